using System.Text.Json;
using Engine.Nn.Merging;
using Xunit;

namespace Engine.Nn.Tests.Merging;

/// <summary>
/// The task-vector combinations against PyTorch: tests/golden/make_merging_golden.py writes PEFT's merge_utils math
/// (task arithmetic, magnitude pruning, TIES by total and by frequency) on three seeded [4, 5] tensors.
/// </summary>
public class TaskVectorGoldenTests
{
    static readonly JsonElement Golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "merging", "task_vector_merges.json"))).RootElement;

    static double[] Values(JsonElement e) => e.EnumerateArray().Select(v => v.GetDouble()).ToArray();

    [Theory]
    [InlineData(TaskVectorMethod.TaskArithmetic, MajoritySignMethod.Total, "task_arithmetic")]
    [InlineData(TaskVectorMethod.MagnitudePrune, MajoritySignMethod.Total, "magnitude_prune")]
    [InlineData(TaskVectorMethod.Ties, MajoritySignMethod.Total, "ties_total")]
    [InlineData(TaskVectorMethod.Ties, MajoritySignMethod.Frequency, "ties_frequency")]
    public void Combination_MatchesPyTorch(TaskVectorMethod method, MajoritySignMethod sign, string key)
    {
        var shape = Golden.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var tensors = Golden.GetProperty("task_tensors").EnumerateArray().Select(t => Tensor.FromArray(Values(t), shape)).ToList();
        var weights = Values(Golden.GetProperty("weights"));
        var combined = TaskVectorCombination.Combine(method, tensors, weights, Golden.GetProperty("density").GetDouble(), sign);
        AssertClose(Values(Golden.GetProperty(key)), combined.ToDoubleArray(), 1e-12, key);
    }
}
