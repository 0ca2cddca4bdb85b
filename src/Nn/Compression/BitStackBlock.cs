using Engine.Nn.Checkpoints;

namespace Engine.Nn.Compression;

/// <summary>
/// One block of a BitStack weight (spec adapters-other.md §17): Ŵ_i = S_i ⊙ (u_i v_iᵀ) with the signs S_i packed one bit
/// per weight (<see cref="SignBits"/>) and the factors u_i [rows, rank], v_iᵀ [rank, cols] held at fp16 precision
/// (the values are Float32 numbers that are exactly binary16, so writing them as F16 loses nothing).
/// </summary>
/// <param name="Rows">Output features of the layer (rows of W).</param>
/// <param name="Cols">Input features (columns of W).</param>
/// <param name="Rank">k, the rank of the magnitude factor u vᵀ.</param>
/// <param name="Signs">⌈rows·cols/8⌉ bytes of packed signs.</param>
/// <param name="U">u_i row-major [rows, rank], fp16 values.</param>
/// <param name="Vt">v_iᵀ row-major [rank, cols], fp16 values.</param>
public sealed record BitStackBlock(int Rows, int Cols, int Rank, byte[] Signs, float[] U, float[] Vt)
{
    /// <summary>Bytes this block occupies when stored: the packed signs plus u and vᵀ at 2 bytes per entry (BitStack's <c>memory_per_bit</c>).</summary>
    public long StoredBytes => Signs.LongLength + 2L * (U.LongLength + Vt.LongLength);

    /// <summary>The block from its stored parts, checked for consistent sizes.</summary>
    /// <exception cref="ArgumentException">A part has the wrong length for [rows, cols] at this rank.</exception>
    public static BitStackBlock Create(int rows, int cols, int rank, byte[] signs, float[] u, float[] vt)
    {
        if (rows < 1 || cols < 1 || rank < 1)
            throw new ArgumentException($"BitStackBlock: rows {rows}, cols {cols} and rank {rank} must be positive");
        if (signs.Length != SignBits.ByteCount((long)rows * cols) || u.Length != rows * rank || vt.Length != rank * cols)
            throw new ArgumentException($"BitStackBlock: a [{rows}, {cols}] block of rank {rank} needs {SignBits.ByteCount((long)rows * cols)} sign bytes, "
                + $"u [{rows}, {rank}] and vt [{rank}, {cols}]; got {signs.Length} bytes, {u.Length} and {vt.Length} values");
        return new BitStackBlock(rows, cols, rank, signs, u, vt);
    }

    /// <summary>Adds Ŵ_i = S_i ⊙ (u_i v_iᵀ) to <paramref name="weight"/> (row-major [rows, cols]).</summary>
    public void AddTo(double[] weight)
    {
        var signs = SignBits.Unpack(Signs, Rows * Cols);
        for (int r = 0; r < Rows; r++)
            for (int c = 0; c < Cols; c++)
            {
                double magnitude = 0;
                for (int j = 0; j < Rank; j++) magnitude += U[r * Rank + j] * (double)Vt[j * Cols + c];
                weight[r * Cols + c] += signs[r * Cols + c] * magnitude;
            }
    }

    /// <summary>A value rounded to the nearest binary16 (ties to even), as the stored factors are.</summary>
    internal static float ToHalf(double value) => HalfPrecision.HalfBitsToFloat(HalfPrecision.FloatToHalfBits((float)value));
}
