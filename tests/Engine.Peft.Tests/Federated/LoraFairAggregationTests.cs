using Engine.Peft.Federated;
using MathNet.Numerics.LinearAlgebra;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Federated;

/// <summary>
/// The three server rules of federated LoRA (spec adapters-lowrank.md §9), checked against MathNet matrices computed
/// here from the clients' factors: LoRA-FAIR's oracles (one client ⇒ ΔB = 0; λ → 0 and Ā of full row rank ⇒ (B̄+ΔB)Ā is
/// the least-squares projection ΔW Ā⁺Ā), averaging identical clients, and the exact product rule.
/// </summary>
public class LoraFairAggregationTests
{
    const int Out = 6, R = 3, In = 8;
    static readonly double[] ThreeWeights = [0.5, 0.3, 0.2];

    static LoraFactors Client(ulong seed) => new(Randn64(seed, Out, R), Randn64(seed + 100, R, In));

    static Matrix<double> M(Tensor t) => Matrix<double>.Build.DenseOfRowMajor(t.Size(0), t.Size(1), t.ToDoubleArray());

    static Matrix<double> Weighted(IReadOnlyList<LoraFactors> clients, IReadOnlyList<double> p, Func<LoraFactors, Matrix<double>> of)
        => clients.Select((c, k) => of(c) * p[k]).Aggregate((x, y) => x + y);

    static void AssertMatrix(Matrix<double> expected, Tensor actual, double tol, string what)
        => AssertClose(expected.ToRowMajorArray(), actual.ToDoubleArray(), tol, what);

    [Fact]
    public void OneClient_CorrectionIsZero()
    {
        var client = Client(1);
        var deltaB = LoraFairAggregation.Correction(client.Product(), client, LoraFairAggregation.DefaultLambdaFactor);
        Assert.Equal([Out, R], deltaB.Shape);
        AssertClose(new double[Out * R], deltaB.ToDoubleArray(), 1e-12, "ΔB with one client");
        var update = new LoraFairAggregation().Aggregate([client], [1.0]);
        AssertMatrix(M(client.B), update.Global.B, 1e-12, "B̄' with one client");
    }

    [Fact]
    public void LambdaToZero_GivesTheLeastSquaresProjectionOntoTheRowSpaceOfA()
    {
        var clients = new[] { Client(1), Client(2), Client(3) };
        var update = new LoraFairAggregation(lambdaFactor: 1e-13).Aggregate(clients, ThreeWeights);
        var target = Weighted(clients, ThreeWeights, c => M(c.B) * M(c.A));
        var aBar = Weighted(clients, ThreeWeights, c => M(c.A));
        Assert.Equal(R, aBar.Rank());
        // The closest matrix to ΔW among X·Ā is ΔW·Ā⁺·Ā (Ā⁺Ā: the orthogonal projector onto Ā's row space).
        var projection = target * aBar.PseudoInverse() * aBar;
        Assert.True((target - projection).FrobeniusNorm() > 1e-3, "the test needs a ΔW outside Ā's row space");
        AssertMatrix(aBar, update.Global.A, 1e-12, "Ā is the plain average");
        AssertClose(projection.ToRowMajorArray(), update.Global.Product().ToDoubleArray(), 1e-8, "(B̄+ΔB)Ā");
    }

    [Fact]
    public void DefaultRidge_NeverWidensTheGapOfFactorAveraging()
    {
        var clients = new[] { Client(4), Client(5), Client(6) };
        var target = Weighted(clients, ThreeWeights, c => M(c.B) * M(c.A));
        double averaged = (target - M(new FactorAveraging().Aggregate(clients, ThreeWeights).Global.Product())).FrobeniusNorm();
        double corrected = (target - M(new LoraFairAggregation().Aggregate(clients, ThreeWeights).Global.Product())).FrobeniusNorm();
        // ΔB = 0 is a candidate of the ridge problem, so its optimum is at least as close; random clients make it strictly closer.
        Assert.True(corrected < averaged * 0.99, $"gap {corrected} after the correction, {averaged} before");
    }

    [Fact]
    public void Correction_MatchesTheRidgeNormalEquationsAtTheDefaultLambda()
    {
        var clients = new[] { Client(7), Client(8) };
        double[] p = [0.25, 0.75];
        var target = Weighted(clients, p, c => M(c.B) * M(c.A));
        var (bBar, aBar) = (Weighted(clients, p, c => M(c.B)), Weighted(clients, p, c => M(c.A)));
        var gram = aBar * aBar.Transpose();
        double lambda = 1e-3 * gram.Trace() / R;
        // Minimiser of ‖ΔW − (B̄+X)Ā‖² + λ‖X‖²: X (ĀĀᵀ + λI) = (ΔW − B̄Ā) Āᵀ.
        var expected = (target - bBar * aBar) * aBar.Transpose() * (gram + Matrix<double>.Build.DenseIdentity(R) * lambda).Inverse();
        var deltaB = LoraFairAggregation.Correction(ClientAverage.Product(clients, p), ClientAverage.Factors(clients, p), 1e-3);
        AssertMatrix(expected, deltaB, 1e-9, "ΔB");
    }

    public static TheoryData<string> Rules => new() { "fedavg", "product", "lora-fair" };

    static IFederatedAggregation Rule(string name) => name switch
    {
        "fedavg" => new FactorAveraging(),
        "product" => new ProductAveraging(),
        _ => new LoraFairAggregation(),
    };

    [Theory]
    [MemberData(nameof(Rules))]
    public void AveragingIdenticalClients_GivesThatClient(string name)
    {
        var client = Client(9);
        var update = Rule(name).Aggregate([client, client with { }, client with { }], ThreeWeights);
        AssertMatrix(M(client.B), update.Global.B, 1e-10, $"{name}: B");
        AssertMatrix(M(client.A), update.Global.A, 1e-12, $"{name}: A");
        if (update.Residual is { } residual) AssertClose(new double[Out * In], residual.ToDoubleArray(), 1e-12, $"{name}: residual");
    }

    [Fact]
    public void ProductAveraging_CarriesExactlyTheWeightedSumOfProducts_AndBroadcastsTheFactorAverages()
    {
        var clients = new[] { Client(10), Client(11), Client(12) };
        var update = new ProductAveraging().Aggregate(clients, ThreeWeights);
        AssertMatrix(Weighted(clients, ThreeWeights, c => M(c.B) * M(c.A)), update.CarriedProduct(), 1e-12, "R + B̄Ā");
        AssertMatrix(Weighted(clients, ThreeWeights, c => M(c.B)), update.Global.B, 1e-12, "B̄");
        AssertMatrix(Weighted(clients, ThreeWeights, c => M(c.A)), update.Global.A, 1e-12, "Ā");
        Assert.Null(new FactorAveraging().Aggregate(clients, ThreeWeights).Residual);
    }

    [Fact]
    public void ClientsOfDifferentRanks_AreRefusedNamingTheShapes()
    {
        var other = new LoraFactors(Randn64(1, Out, R + 1), Randn64(2, R + 1, In));
        var e = Assert.Throws<ArgumentException>(() => new LoraFairAggregation().Aggregate([Client(1), other], [0.5, 0.5]));
        Assert.Contains("LoraFairAggregation", e.Message);
        Assert.Contains("[6,4]", e.Message.Replace(" ", ""));
        Assert.Throws<ArgumentException>(() => new FactorAveraging().Aggregate([Client(1)], [0.5, 0.5]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new LoraFairAggregation(0));
    }
}
