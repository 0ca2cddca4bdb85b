using Engine.Backends.Cpu;
using Xunit;

namespace Engine.Tests.Gemm;

/// <summary>
/// Packing against its definition (panel r holds rows r*mr.. as dst[r*mr*kc + p*mr + ii], zero-padded), for the row-
/// and column-major sources that take the in-register transposes, at panel heights with and without a partial last
/// vector (3 to 6 Float32 rows: the 12- to 24-byte k steps copied by 16-byte moves or byte copies) and depths with and without a remainder; and no packing writes past the packed block (a guard after it stays).
/// </summary>
public unsafe class GemmPackingTests
{
    [Theory]
    [InlineData(14)]
    [InlineData(6)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(8)]
    [InlineData(16)]
    [InlineData(32)]
    public void PackA_AndPackB_MatchTheLayout_AndStayInsideTheBlock(int panel)
    {
        var rng = new Random(panel);
        foreach (int rows in new[] { panel, 2 * panel, 2 * panel - 1, 1 })
            foreach (int kc in new[] { 1, 7, 8, 9, 16, 32, 33 })
                foreach (bool rowMajor in new[] { true, false })
                {
                    int ld = (rowMajor ? kc : rows) + 3;
                    var source = Enumerable.Range(0, (rowMajor ? rows : kc) * ld).Select(_ => (float)rng.NextDouble()).ToArray();
                    float At(int i, int p) => rowMajor ? source[i * ld + p] : source[p * ld + i];
                    int panels = (rows + panel - 1) / panel, packed = panels * panel * kc;
                    const int Guard = 64;
                    var a = Enumerable.Repeat(float.NaN, packed + Guard).ToArray();
                    var b = Enumerable.Repeat(float.NaN, packed + Guard).ToArray();
                    fixed (float* s = source, pa = a, pb = b)
                    {
                        // As A: rows x kc; as B: the same values read as kc x rows (B(p, j) = A(j, p)).
                        GemmPacking.PackA(rows, kc, panel, s, rowMajor ? ld : 1, rowMajor ? 1 : ld, pa);
                        GemmPacking.PackB(kc, rows, panel, s, rowMajor ? 1 : ld, rowMajor ? ld : 1, pb);
                    }
                    string what = $"panel {panel}, {rows} rows, kc {kc}, {(rowMajor ? "row" : "column")}-major";
                    for (int r = 0; r < panels; r++)
                        for (int p = 0; p < kc; p++)
                            for (int ii = 0; ii < panel; ii++)
                            {
                                int i = r * panel + ii;
                                float expected = i < rows ? At(i, p) : 0f;
                                long at = (long)r * panel * kc + p * panel + ii;
                                Assert.True(a[at] == expected, $"{what}: A panel {r}, p {p}, row {ii}: {a[at]}, expected {expected}");
                                Assert.True(b[at] == expected, $"{what}: B panel {r}, p {p}, column {ii}: {b[at]}, expected {expected}");
                            }
                    for (int g = packed; g < packed + Guard; g++)
                        Assert.True(float.IsNaN(a[g]) && float.IsNaN(b[g]), $"{what}: written past the packed block at {g - packed}");
                }
    }
}
