using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Engine.Bench.Gemm;

/// <summary>
/// Runs bench/torch_gemm.py in a subprocess (one per thread count, so the BLAS thread pool is sized
/// before it starts) and reads back its JSON. Absent torch is not an error: the table shows "n/a".
/// </summary>
internal static class TorchSgemm
{
    /// <summary>The first python that can import torch, or null.</summary>
    public static string? FindPython()
    {
        var candidates = new List<string>();
        if (Environment.GetEnvironmentVariable("ENGINE_BENCH_PYTHON") is { Length: > 0 } forced) candidates.Add(forced);
        // Debian's python3-torch lives in the system interpreter, which a pyenv/venv python3 on PATH may shadow.
        candidates.AddRange(["python3", "/usr/bin/python3"]);
        foreach (var python in candidates)
        {
            var (code, _) = Execute(python, ["-c", "import torch"], null, TimeSpan.FromSeconds(60));
            if (code == 0) return python;
        }
        return null;
    }

    /// <summary>GFLOP/s per shape for one thread count, plus the BLAS library torch loaded.</summary>
    /// <param name="bestKernel">
    /// Drop OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, which this workplace sets to pin an older, safer OpenBLAS kernel,
    /// so OpenBLAS picks its own best kernel for the CPU.
    /// </param>
    public static (Dictionary<GemmShape, double> Gflops, string Blas) Run(string python, string script, IReadOnlyList<GemmShape> shapes,
        int threads, int repetitions, double minSeconds, bool bestKernel = false)
    {
        string list = string.Join(";", shapes.Select(s => $"{s.M},{s.N},{s.K}"));
        var env = new Dictionary<string, string>
        {
            ["OMP_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture),
            ["OPENBLAS_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture),
            ["MKL_NUM_THREADS"] = threads.ToString(CultureInfo.InvariantCulture),
        };
        if (bestKernel)
        {
            env["OPENBLAS_CORETYPE"] = "";
            env["OPENBLAS_L2_SIZE"] = "";
        }
        var (code, output) = Execute(python,
            [script, "--threads", threads.ToString(CultureInfo.InvariantCulture), "--shapes", list,
             "--reps", repetitions.ToString(CultureInfo.InvariantCulture), "--min-seconds", minSeconds.ToString(CultureInfo.InvariantCulture)],
            env, TimeSpan.FromMinutes(5));
        if (code != 0) throw new InvalidOperationException($"torch_gemm.py exited with {code}: {output}");
        using var doc = JsonDocument.Parse(output.Trim().Split('\n').Last());
        var result = new Dictionary<GemmShape, double>();
        foreach (var row in doc.RootElement.GetProperty("results").EnumerateArray())
            result[new GemmShape(row.GetProperty("m").GetInt32(), row.GetProperty("n").GetInt32(), row.GetProperty("k").GetInt32(), threads)]
                = row.GetProperty("gflops").GetDouble();
        string core = doc.RootElement.TryGetProperty("core", out var c) ? c.GetString() ?? "?" : "?";
        return (result, $"{doc.RootElement.GetProperty("blas").GetString() ?? "?"} (kernel {core})");
    }

    internal static (int Code, string Output) Execute(string file, string[] args, Dictionary<string, string>? env, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        if (env != null)
            foreach (var (key, value) in env)
                if (value.Length == 0) info.Environment.Remove(key);
                else info.Environment[key] = value;
        try
        {
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(timeout)) { process.Kill(true); return (-1, "timed out"); }
            return (process.ExitCode, process.ExitCode == 0 ? stdout : stdout + stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (-1, e.Message);
        }
    }
}
