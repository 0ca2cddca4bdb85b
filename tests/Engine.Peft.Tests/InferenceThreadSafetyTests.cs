using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests;

/// <summary>
/// The promise in README "Threads": forward passes and generation on one shared model, from several threads at once,
/// give bit-for-bit the results of one thread. The model is large enough that the CPU backend's own parallel loops,
/// its array pool and the packed GEMM's per-thread buffers all take part.
/// </summary>
public class InferenceThreadSafetyTests
{
    const int Threads = 4;

    static PeftModel SharedModel()
    {
        var gpt = (Gpt)new Gpt(new GptConfig(97, 64, 128, 2, 4, MlpRatio: 4), new Generator(11)).Eval();
        var peft = Peft.Apply(gpt, new LoraConfig { TargetModules = ["qkv", "fc"], R = 4, LoraAlpha = 8 });
        // A fresh LoRA B is zero; make the adapter change the outputs so its path is exercised too.
        foreach (var layer in peft.AdapterLayers()) Scramble(((LoraLayer)layer.Layer).LoraB("default"), 5, 0.2);
        return peft;
    }

    static Tensor Batch(int i) => Tensor.Randint(0, 97, [4, 64], generator: new Generator(100 + (ulong)i));

    [Fact]
    public void ForwardFromFourThreads_IsBitIdenticalToOneThread()
    {
        var peft = SharedModel();
        var inputs = Enumerable.Range(0, 6).Select(Batch).ToArray();
        // One thread's results in each mode: NoGrad takes the inference kernels, which round differently in the last bits.
        float[][] expectedNoGrad, expectedRecording = inputs.Select(x => peft.Forward(x).ToArray<float>()).ToArray();
        using (Autograd.Autograd.NoGrad()) expectedNoGrad = inputs.Select(x => peft.Forward(x).ToArray<float>()).ToArray();
        for (int i = 0; i < inputs.Length; i++)
            for (int j = 0; j < expectedNoGrad[i].Length; j++)
                Assert.True(Math.Abs(expectedNoGrad[i][j] - expectedRecording[i][j]) <= 1e-6 * (1 + Math.Abs(expectedRecording[i][j])),
                    $"input {i}, logit {j}: {expectedNoGrad[i][j]:R} without recording, {expectedRecording[i][j]:R} with");

        var mismatches = RunOnThreads(thread =>
        {
            var wrong = new List<string>();
            for (int round = 0; round < 2; round++)
                for (int k = 0; k < inputs.Length; k++)
                {
                    int i = (k + thread) % inputs.Length; // each thread walks the inputs in another order
                    // Half the threads record graphs (grad mode on), half do not: both must leave the model untouched.
                    float[] actual, expected;
                    if (thread % 2 == 0) { using (Autograd.Autograd.NoGrad()) actual = peft.Forward(inputs[i]).ToArray<float>(); expected = expectedNoGrad[i]; }
                    else { actual = peft.Forward(inputs[i]).ToArray<float>(); expected = expectedRecording[i]; }
                    if (!actual.AsSpan().SequenceEqual(expected)) wrong.Add($"thread {thread}, input {i}");
                }
            return wrong;
        });
        Assert.Empty(mismatches);
    }

    [Fact]
    public void GenerationFromFourThreads_EachWithItsOwnCacheAndGenerator_IsBitIdenticalToOneThread()
    {
        var peft = SharedModel();
        var gpt = (Gpt)peft.Model;
        var prompt = Tensor.Randint(0, 97, [2, 8], generator: new Generator(3));
        var options = new SamplingOptions(Temperature: 0.8, TopK: 20);
        long[] Sample(ulong seed)
        {
            using (Autograd.Autograd.NoGrad())
                return Sampling.Generate(gpt, prompt, 24, options, new Generator(seed)).ToArray<long>();
        }
        var expected = Enumerable.Range(0, Threads).Select(t => Sample((ulong)t)).ToArray();

        var mismatches = RunOnThreads(thread =>
        {
            var wrong = new List<string>();
            for (int round = 0; round < 3; round++)
                if (!Sample((ulong)thread).AsSpan().SequenceEqual(expected[thread])) wrong.Add($"thread {thread}, round {round}");
            return wrong;
        });
        Assert.Empty(mismatches);
    }

    // Dedicated threads (not the pool) so that all four run at once even where the thread pool starts small.
    static List<string> RunOnThreads(Func<int, List<string>> body)
    {
        var results = new List<string>[Threads];
        var errors = new Exception?[Threads];
        using var start = new Barrier(Threads);
        var threads = Enumerable.Range(0, Threads).Select(t => new Thread(() =>
        {
            try { start.SignalAndWait(); results[t] = body(t); }
            catch (Exception e) { errors[t] = e; }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());
        Assert.All(errors, e => Assert.Null(e));
        return results.SelectMany(r => r).ToList();
    }
}
