namespace Engine.Backends.Cpu;

/// <summary>Temporary straightforward GEMM; replaced by the packed BLIS-style kernel.</summary>
public static unsafe class PackedGemm
{
    public static void Gemm(int m, int n, int k, float alpha, float* a, long rsA, long csA, float* b, long rsB, long csB, float beta, float* c, long ldc, int threads = 0)
    {
        for (int i = 0; i < m; i++)
        {
            var acc = new float[n];
            for (int p = 0; p < k; p++)
            {
                float av = a[i * rsA + p * csA];
                for (int j = 0; j < n; j++) acc[j] += av * b[p * rsB + j * csB];
            }
            for (int j = 0; j < n; j++) c[i * ldc + j] = alpha * acc[j] + (beta == 0 ? 0 : beta * c[i * ldc + j]);
        }
    }

    public static void Gemm(int m, int n, int k, double alpha, double* a, long rsA, long csA, double* b, long rsB, long csB, double beta, double* c, long ldc, int threads = 0)
    {
        for (int i = 0; i < m; i++)
        {
            var acc = new double[n];
            for (int p = 0; p < k; p++)
            {
                double av = a[i * rsA + p * csA];
                for (int j = 0; j < n; j++) acc[j] += av * b[p * rsB + j * csB];
            }
            for (int j = 0; j < n; j++) c[i * ldc + j] = alpha * acc[j] + (beta == 0 ? 0 : beta * c[i * ldc + j]);
        }
    }
}
