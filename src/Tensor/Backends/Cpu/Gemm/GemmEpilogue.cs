using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Engine.Backends.Cpu;

/// <summary>The activation a <see cref="GemmEpilogue"/> applies.</summary>
internal enum GemmActivation
{
    /// <summary>C as computed.</summary>
    None,
    /// <summary>The exact (erf) GELU of every element (Float32 only; see <see cref="GeluErfFloat"/>).</summary>
    GeluErf,
}

/// <summary>
/// What the GEMM applies to each finished tile of C while it is still in cache: a row bias (a Linear's, added to every
/// row) and then an activation, so a Linear followed by GELU (BERT's feed-forward) writes its [tokens, 4 x width]
/// output once: no pass to place the bias in C before the product and none to apply GELU after it. Float32 only.
/// The packed path adds the bias in the micro-kernel's stores (<see cref="IGemmMicroKernel{T}.Run"/>; a pass over the
/// tile just stored cost 6-14% of a Linear's K = 128 product) and applies only the activation here; the short-A path
/// and the empty product apply both here.
/// </summary>
/// <param name="activation">Applied after the bias.</param>
/// <param name="rowBias">bias[j] is added to column j of every row, or null; the caller keeps it pinned for the call.</param>
internal readonly unsafe struct GemmEpilogue(GemmActivation activation, float* rowBias)
{
    public GemmActivation Activation { get; } = activation;
    public float* RowBias { get; } = rowBias;

    /// <summary>Nothing: C as computed.</summary>
    public static GemmEpilogue None => default;

    /// <summary>An activation alone.</summary>
    public static GemmEpilogue Of(GemmActivation activation) => new(activation, null);

    public bool IsNone => Activation == GemmActivation.None && RowBias == null;

    /// <summary>The same epilogue for the block of C that starts at <paramref name="column"/>.</summary>
    public GemmEpilogue ForColumnsFrom(int column) => RowBias == null ? this : new(Activation, RowBias + column);

    public override string ToString() => RowBias == null ? Activation.ToString() : $"row bias + {Activation}";

    /// <summary>Applies the epilogue to the rows x cols block of C at <paramref name="c"/> (rows <paramref name="ldc"/> apart).</summary>
    public void Apply<T>(int rows, int cols, T* c, long ldc) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (IsNone) return;
        if (typeof(T) != typeof(float)) throw new NotSupportedException($"Gemm: the {this} epilogue is implemented for Float32 only");
        for (int i = 0; i < rows; i++)
        {
            float* row = (float*)(c + i * ldc);
            // A register tile's row is two or four vectors: inline vector code, where two library calls per row
            // (bias add, GELU) cost as much as the arithmetic.
            int j = 0;
            if (CpuIsa.Use512)
                for (; j + 16 <= cols; j += 16)
                {
                    var v = Vector512.Load(row + j);
                    if (RowBias != null) v += Vector512.Load(RowBias + j);
                    if (Activation == GemmActivation.GeluErf) v = GeluErfFloat.Gelu(v);
                    v.Store(row + j);
                }
            for (; j + 8 <= cols; j += 8)
            {
                var v = Vector256.Load(row + j);
                if (RowBias != null) v += Vector256.Load(RowBias + j);
                if (Activation == GemmActivation.GeluErf) v = GeluErfFloat.Gelu(v);
                v.Store(row + j);
            }
            // A tile's row is whole vectors except at C's right edge: no library calls on empty spans (which cost
            // as much as the vector loop above, 14 times a tile).
            if (j == cols) continue;
            var rest = new Span<float>(row + j, cols - j);
            if (RowBias != null) TensorPrimitives.Add(rest, new ReadOnlySpan<float>(RowBias + j, cols - j), rest);
            if (Activation == GemmActivation.GeluErf) GeluErfFloat.Forward(rest, rest);
        }
    }
}
