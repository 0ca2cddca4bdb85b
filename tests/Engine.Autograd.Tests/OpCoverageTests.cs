using System.Reflection;
using Engine.Recording;
using Xunit;

namespace Engine.Autograd.Tests;

/// <summary>
/// Every differentiable <see cref="OpKind"/> has a derivative rule and a gradient property that really reaches it.
/// <para>
/// How "reaches" is established: each kind maps to the test methods named for it below. The map is checked
/// statically (the methods exist and are [Fact]s) and dynamically: each named method is run once more with its
/// properties cut to twelve cases (fast, yet enough that rank-0 or size-1 draws cannot hide the op in every case)
/// while <see cref="GradProperty"/> notes the op kinds the checked functions' backward passes go through, and the kind must be among them. Recording per run inside this test (rather than collecting
/// kinds as a side effect of the whole suite) keeps the verdict independent of test order and parallelism, and a
/// renamed method or a test that stops reaching its op fails here by name.
/// </para>
/// </summary>
public class OpCoverageTests
{
    /// <summary>Kinds that no gradient check can reach: user ops carry their own backward; non-differentiable ops have none.</summary>
    static readonly OpKind[] NotDifferentiable = [OpKind.Custom, OpKind.NonDifferentiable];

    const string E = nameof(ElementwiseGradTests), M = nameof(MovementGradTests), R = nameof(ReductionGradTests), P = nameof(MatMulGradTests), I = nameof(IndexingGradTests), S = nameof(SpectralGradTests);

    static readonly Dictionary<OpKind, string[]> Properties = new()
    {
        [OpKind.Add] = [$"{E}.{nameof(ElementwiseGradTests.Add_OfBroadcastOperands_MatchesFiniteDifferences)}"],
        [OpKind.Sub] = [$"{E}.{nameof(ElementwiseGradTests.Sub_OfBroadcastOperands_MatchesFiniteDifferences)}"],
        [OpKind.Mul] = [$"{E}.{nameof(ElementwiseGradTests.Mul_OfBroadcastOperands_MatchesFiniteDifferences)}", $"{E}.{nameof(ElementwiseGradTests.ScalarArithmetic_OnEitherSide_MatchesFiniteDifferences)}"],
        [OpKind.Div] = [$"{E}.{nameof(ElementwiseGradTests.Div_ByOperandsAwayFromZero_MatchesFiniteDifferences)}"],
        [OpKind.Pow] = [$"{E}.{nameof(ElementwiseGradTests.Pow_WithTensorExponent_MatchesFiniteDifferencesInBaseAndExponent)}", $"{E}.{nameof(ElementwiseGradTests.Pow_WithScalarExponents_MatchesFiniteDifferences)}"],
        [OpKind.Maximum] = [$"{E}.{nameof(ElementwiseGradTests.MaximumAndMinimum_OfSeparatedOperands_SendGradientToTheWinner)}", $"{E}.{nameof(ElementwiseGradTests.MaximumAndMinimum_WithBroadcastRow_OfDistinctValues_MatchFiniteDifferences)}"],
        [OpKind.Minimum] = [$"{E}.{nameof(ElementwiseGradTests.MaximumAndMinimum_OfSeparatedOperands_SendGradientToTheWinner)}", $"{E}.{nameof(ElementwiseGradTests.MaximumAndMinimum_WithBroadcastRow_OfDistinctValues_MatchFiniteDifferences)}"],
        [OpKind.Neg] = [$"{E}.{nameof(ElementwiseGradTests.Neg_MatchesFiniteDifferences)}"],
        [OpKind.Abs] = [$"{E}.{nameof(ElementwiseGradTests.Abs_AwayFromZero_MatchesFiniteDifferences)}"],
        [OpKind.Exp] = [$"{E}.{nameof(ElementwiseGradTests.Exp_MatchesFiniteDifferences)}"],
        [OpKind.Log] = [$"{E}.{nameof(ElementwiseGradTests.Log_OfPositiveValues_MatchesFiniteDifferences)}"],
        [OpKind.Log1p] = [$"{E}.{nameof(ElementwiseGradTests.Log1p_AboveMinusOne_MatchesFiniteDifferences)}"],
        [OpKind.Sqrt] = [$"{E}.{nameof(ElementwiseGradTests.Sqrt_OfPositiveValues_MatchesFiniteDifferences)}"],
        [OpKind.Rsqrt] = [$"{E}.{nameof(ElementwiseGradTests.Rsqrt_OfPositiveValues_MatchesFiniteDifferences)}"],
        [OpKind.Sin] = [$"{E}.{nameof(ElementwiseGradTests.SinAndCos_MatchFiniteDifferences)}"],
        [OpKind.Cos] = [$"{E}.{nameof(ElementwiseGradTests.SinAndCos_MatchFiniteDifferences)}"],
        [OpKind.Tanh] = [$"{E}.{nameof(ElementwiseGradTests.Tanh_MatchesFiniteDifferences)}"],
        [OpKind.Sigmoid] = [$"{E}.{nameof(ElementwiseGradTests.Sigmoid_MatchesFiniteDifferences)}"],
        [OpKind.Relu] = [$"{E}.{nameof(ElementwiseGradTests.Relu_AwayFromZero_MatchesFiniteDifferences)}"],
        [OpKind.GeluErf] = [$"{E}.{nameof(ElementwiseGradTests.GeluErf_MatchesFiniteDifferences)}"],
        [OpKind.GeluTanh] = [$"{E}.{nameof(ElementwiseGradTests.GeluTanh_MatchesFiniteDifferences)}"],
        [OpKind.Silu] = [$"{E}.{nameof(ElementwiseGradTests.Silu_MatchesFiniteDifferences)}"],
        [OpKind.Softplus] = [$"{E}.{nameof(ElementwiseGradTests.Softplus_InItsCurvedAndLinearRanges_MatchesFiniteDifferences)}"],
        [OpKind.Clamp] = [$"{E}.{nameof(ElementwiseGradTests.Clamp_AwayFromItsBounds_PassesGradientInsideAndZeroOutside)}"],
        [OpKind.Square] = [$"{E}.{nameof(ElementwiseGradTests.Square_MatchesFiniteDifferences)}"],
        [OpKind.Reciprocal] = [$"{E}.{nameof(ElementwiseGradTests.Reciprocal_AwayFromZero_MatchesFiniteDifferences)}"],
        [OpKind.Erf] = [$"{E}.{nameof(ElementwiseGradTests.Erf_MatchesFiniteDifferences)}"],
        [OpKind.Where] = [$"{E}.{nameof(ElementwiseGradTests.Where_WithBroadcastConditionAndBranches_MatchesFiniteDifferences)}", $"{E}.{nameof(ElementwiseGradTests.MaskedFill_WithBroadcastMask_ZeroesTheGradientOfFilledElements)}"],
        [OpKind.Cast] = [$"{E}.{nameof(ElementwiseGradTests.Cast_ThroughFloat32AndBack_MatchesFiniteDifferencesAtFloat32Precision)}"],
        [OpKind.Clone] = [$"{E}.{nameof(ElementwiseGradTests.CloneAndContiguous_OfStridedViews_MatchFiniteDifferences)}"],
        [OpKind.Reshape] = [$"{M}.{nameof(MovementGradTests.ReshapeViewAndFlatten_OfAnyInput_MatchFiniteDifferences)}", $"{M}.{nameof(MovementGradTests.SqueezeAndUnsqueeze_MatchFiniteDifferences)}"],
        [OpKind.Permute] = [$"{M}.{nameof(MovementGradTests.PermuteAndTranspose_ByRandomOrders_MatchFiniteDifferences)}"],
        [OpKind.Expand] = [$"{M}.{nameof(MovementGradTests.Expand_ToABroadcastShape_SumsTheGradientOverRepeats)}", $"{P}.{nameof(MatMulGradTests.MatMul_BroadcastsBatchDimensions)}"],
        [OpKind.Slice] = [$"{M}.{nameof(MovementGradTests.SliceWithStepAndNarrow_MatchFiniteDifferences)}", $"{M}.{nameof(MovementGradTests.SplitAndChunk_PiecesWeightedDifferently_MatchFiniteDifferences)}"],
        [OpKind.Select] = [$"{M}.{nameof(MovementGradTests.SelectAndIndexer_MatchFiniteDifferences)}"],
        [OpKind.Flip] = [$"{M}.{nameof(MovementGradTests.Flip_OfRandomDimensions_MatchesFiniteDifferences)}"],
        [OpKind.EmbedSlice] = [$"{M}.{nameof(MovementGradTests.EmbedSlice_IntoLargerZeros_MatchesFiniteDifferences)}"],
        [OpKind.Pad] = [$"{M}.{nameof(MovementGradTests.Pad_WithPositiveAndNegativeAmounts_MatchesFiniteDifferences)}"],
        [OpKind.Concat] = [$"{M}.{nameof(MovementGradTests.ConcatAndStack_OfSeveralInputs_SplitTheGradientBack)}", $"{I}.{nameof(IndexingGradTests.RollTrilAndTriu_ComposedFromPrimitives_MatchFiniteDifferences)}"],
        [OpKind.Sum] = [$"{R}.{nameof(ReductionGradTests.Sum_OverRandomAxes_MatchesFiniteDifferences)}", $"{R}.{nameof(ReductionGradTests.Mean_OverRandomAxes_MatchesFiniteDifferences)}"],
        [OpKind.Prod] = [$"{R}.{nameof(ReductionGradTests.Prod_OfValuesAwayFromZero_MatchesFiniteDifferences)}"],
        [OpKind.Amax] = [$"{R}.{nameof(ReductionGradTests.AmaxAndAmin_OfDistinctValues_MatchFiniteDifferences)}", $"{R}.{nameof(ReductionGradTests.MaxAndMinAlongADimension_Values_MatchFiniteDifferences)}"],
        [OpKind.Amin] = [$"{R}.{nameof(ReductionGradTests.AmaxAndAmin_OfDistinctValues_MatchFiniteDifferences)}", $"{R}.{nameof(ReductionGradTests.MaxAndMinAlongADimension_Values_MatchFiniteDifferences)}"],
        [OpKind.Cumsum] = [$"{R}.{nameof(ReductionGradTests.Cumsum_AlongEachDimension_MatchesFiniteDifferences)}"],
        [OpKind.Softmax] = [$"{R}.{nameof(ReductionGradTests.SoftmaxAndLogSoftmax_AlongEachDimension_MatchFiniteDifferences)}"],
        [OpKind.LogSoftmax] = [$"{R}.{nameof(ReductionGradTests.SoftmaxAndLogSoftmax_AlongEachDimension_MatchFiniteDifferences)}"],
        [OpKind.LayerNorm] = [$"{nameof(NormalizationGradTests)}.{nameof(NormalizationGradTests.LayerNorm_InInputWeightAndBias_MatchesFiniteDifferences)}"],
        [OpKind.MatMul] = [$"{P}.{nameof(MatMulGradTests.MatMul_MatrixByMatrix_MatchesFiniteDifferences)}", $"{P}.{nameof(MatMulGradTests.MatMul_BroadcastsBatchDimensions)}"],
        [OpKind.AddMatMul] = [$"{P}.{nameof(MatMulGradTests.Addmm_WithEveryAddendShape_MatchesFiniteDifferencesInAllThree)}"],
        [OpKind.SolveTriangular] = [$"{P}.{nameof(MatMulGradTests.SolveTriangular_BothTrianglesWithAndWithoutUnitDiagonal_MatchesFiniteDifferences)}"],
        [OpKind.Gather] = [$"{I}.{nameof(IndexingGradTests.Gather_WithRepeatedIndices_MatchesFiniteDifferences)}"],
        [OpKind.ScatterAdd] = [$"{I}.{nameof(IndexingGradTests.ScatterAdd_IntoInputFromSource_MatchesFiniteDifferencesInBoth)}"],
        [OpKind.Rfft] = [$"{S}.{nameof(SpectralGradTests.Rfft_WithPaddingOrTruncation_MatchesFiniteDifferences)}", $"{S}.{nameof(SpectralGradTests.CausalConvolutionByFft_MatchesFiniteDifferencesInSignalAndKernel)}"],
        [OpKind.Irfft] = [$"{S}.{nameof(SpectralGradTests.Irfft_OfHalfSpectraOfAnyLength_MatchesFiniteDifferences)}", $"{S}.{nameof(SpectralGradTests.CausalConvolutionByFft_MatchesFiniteDifferencesInSignalAndKernel)}"],
        [OpKind.CausalConvolution] = [$"{S}.{nameof(SpectralGradTests.CausalConvolution_OfAnyLengthsWithABroadcastKernel_MatchesFiniteDifferencesInSignalAndKernel)}"],
        [OpKind.VandermondeProduct] = [$"{S}.{nameof(SpectralGradTests.VandermondeProduct_InCoefficientsAndExponents_MatchesFiniteDifferences)}"],
        [OpKind.Attention] = [$"{nameof(AttentionGradTests)}.{nameof(AttentionGradTests.FusedAttention_InQueriesKeysAndValues_MatchesFiniteDifferences)}", $"{nameof(AttentionGradTests)}.{nameof(AttentionGradTests.FusedAttention_SecondOrder_MatchesFiniteDifferences)}"],
        [OpKind.Fwht] = [$"{S}.{nameof(SpectralGradTests.Fwht_OfRowsOfPowerOfTwoLengths_MatchesFiniteDifferences)}"],
        [OpKind.IndexAdd] = [$"{I}.{nameof(IndexingGradTests.IndexAdd_WithRepeatedIndices_MatchesFiniteDifferencesInInputAndSource)}"],
        [OpKind.IndexSelect] = [$"{I}.{nameof(IndexingGradTests.IndexSelect_WithRepeatedIndices_SumsTheGradientOfRepeats)}", $"{I}.{nameof(IndexingGradTests.Embedding_OfIdBatches_MatchesFiniteDifferences)}"],
    };

    static IEnumerable<OpKind> Differentiable
        => Enum.GetValues<OpKind>().Where(k => !NotDifferentiable.Contains(k));

    [Fact]
    public void EveryDifferentiableOpKind_HasADerivativeRule()
    {
        var missing = Differentiable.Where(k => !DerivativeRules.Covered.Contains(k)).ToList();
        Assert.True(missing.Count == 0, $"No derivative rule for: {string.Join(", ", missing)}");
        Assert.Contains(OpKind.Custom, DerivativeRules.Covered);
    }

    [Fact]
    public void EveryDifferentiableOpKind_NamesGradientPropertiesThatExist()
    {
        var unmapped = Differentiable.Where(k => !Properties.ContainsKey(k)).ToList();
        Assert.True(unmapped.Count == 0, $"No gradient property named for: {string.Join(", ", unmapped)}");
        var missing = Properties.Values.SelectMany(v => v).Distinct().Where(name => Find(name) is null).ToList();
        Assert.True(missing.Count == 0, $"Named gradient properties that are not [Fact] methods: {string.Join(", ", missing)}");
    }

    [Fact]
    public void EveryDifferentiableOpKind_IsTraversedByTheGradientPropertiesNamedForIt()
    {
        var traversed = new Dictionary<string, HashSet<OpKind>>();
        foreach (var name in Properties.Values.SelectMany(v => v).Distinct())
        {
            var method = Find(name) ?? throw new InvalidOperationException($"{name} is not a [Fact] method");
            var instance = Activator.CreateInstance(method.DeclaringType!);
            traversed[name] = GradProperty.RecordTraversed(() => method.Invoke(instance, null));
        }
        var unreached = Differentiable
            // At least one named property must reach the kind: secondary ones (e.g. Roll, which is a Concat only
            // for a non-zero shift) may miss it in a short run.
            .Where(k => Properties.TryGetValue(k, out var names) && !names.Any(n => traversed[n].Contains(k)))
            .Select(k => $"{k} (by {string.Join(", ", Properties[k])})")
            .ToList();
        Assert.True(unreached.Count == 0, $"Gradient properties named for these kinds never differentiate through them: {string.Join("; ", unreached)}");
    }

    static MethodInfo? Find(string qualifiedName)
    {
        var parts = qualifiedName.Split('.');
        var type = typeof(OpCoverageTests).Assembly.GetTypes().SingleOrDefault(t => t.Name == parts[0]);
        var method = type?.GetMethod(parts[1], BindingFlags.Public | BindingFlags.Instance);
        return method?.GetCustomAttribute<FactAttribute>() is not null && method.GetParameters().Length == 0 ? method : null;
    }
}
