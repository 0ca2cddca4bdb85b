namespace Engine.Bench.Gemm;

/// <summary>C[M,N] = A[M,K] B[K,N], all row-major (torch.mm on contiguous tensors), run with a thread count.</summary>
internal readonly record struct GemmShape(int M, int N, int K, int Threads)
{
    public double Flops => 2.0 * M * N * K;
    public override string ToString() => $"{M}x{N}x{K}";
}
