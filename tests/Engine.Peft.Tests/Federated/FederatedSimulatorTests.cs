using Engine.Peft.Federated;
using Engine.Peft.LowRank;
using Xunit;
using static Engine.Peft.Tests.TestSupport;

namespace Engine.Peft.Tests.Federated;

/// <summary>
/// <see cref="FederatedSimulator"/> on a tiny GPT with LoRA on its MLP: clients whose "local training" adds known
/// amounts to the factors, so that what the server must produce is computed here by loops over the recorded uploads.
/// </summary>
public class FederatedSimulatorTests
{
    sealed class ScriptedClients
    {
        public readonly List<Dictionary<string, (double[] B, double[] A)>> Received = [];
        public readonly List<Dictionary<string, (double[] B, double[] A)>> Uploaded = [];

        public FederatedClient Client(int k, long size) => new($"c{k}", size, (model, round) =>
        {
            Received.Add(Factors(model));
            using (Autograd.Autograd.NoGrad())
                foreach (var (_, layer) in model.AdapterLayers())
                {
                    var lora = (LoraLayer)layer;
                    ulong seed = (ulong)(1000 * round + 10 * k);
                    lora.LoraB("default").CopyFrom(lora.LoraB("default").Detach() + Randn(seed, lora.LoraB("default").Shape) * 0.1);
                    lora.LoraA("default").CopyFrom(lora.LoraA("default").Detach() + Randn(seed + 1, lora.LoraA("default").Shape) * 0.1);
                }
            Uploaded.Add(Factors(model));
        }, _ => k + 1.0);

        public static Dictionary<string, (double[] B, double[] A)> Factors(PeftModel model) => model.AdapterLayers().ToDictionary(
            l => l.Path, l => (((LoraLayer)l.Layer).LoraB("default").ToDoubleArray(), ((LoraLayer)l.Layer).LoraA("default").ToDoubleArray()));
    }

    static (PeftModel<Gpt> Model, ScriptedClients Script, FederatedSimulator Sim) Setup(IFederatedAggregation rule)
    {
        var model = Engine.Peft.Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, targets: "fc"));
        var script = new ScriptedClients();
        var sim = new FederatedSimulator(model, rule, [script.Client(0, 30), script.Client(1, 10), script.Client(2, 60)]);
        return (model, script, sim);
    }

    static double[] WeightedSum(IEnumerable<double[]> xs, double[] p)
    {
        var list = xs.ToList();
        var sum = new double[list[0].Length];
        for (int k = 0; k < list.Count; k++)
            for (int i = 0; i < sum.Length; i++) sum[i] += p[k] * list[k][i];
        return sum;
    }

    [Fact]
    public void ProductRule_GlobalModelIsTheAverageOfTheClientModels_AndClientsContinueFromTheFactorAverages()
    {
        var (model, script, sim) = Setup(new ProductAveraging());
        double[] p = [0.3, 0.1, 0.6];
        AssertClose(p, [.. sim.Weights], 1e-15, "p_k ∝ data size");
        var layers = model.AdapterLayers().Select(l => (l.Path, Layer: (LoraLayer)l.Layer)).ToList();
        var before = layers.ToDictionary(l => l.Path, l => l.Layer.BaseLayer.Weight.ToDoubleArray());
        var round = sim.RunRound(1);
        foreach (var (path, layer) in layers)
        {
            int o = layer.OutFeatures, i = layer.InFeatures;
            double s = layer.Settings("default").Scaling;
            // W0 + s Σ p_k B_k A_k, from the uploads, against the new base plus the broadcast adapter.
            var ideal = WeightedSum(script.Uploaded.Select(u => NaiveProduct(u[path].B, u[path].A, o, 2, i)), p);
            var expected = before[path].Select((w, j) => w + s * ideal[j]).ToArray();
            var carried = NaiveProduct(layer.LoraB("default").ToDoubleArray(), layer.LoraA("default").ToDoubleArray(), o, 2, i);
            AssertClose(expected, layer.BaseLayer.Weight.ToDoubleArray().Select((w, j) => w + s * carried[j]).ToArray(), 1e-5, path);
        }
        Assert.Equal(0.0, round.GlobalGap, 6);
        Assert.True(round.FactorAverageGap > 1e-3, $"factor-average gap {round.FactorAverageGap}");
        AssertClose(0.3 * 1 + 0.1 * 2 + 0.6 * 3, round.GlobalLoss, 1e-12, "Σ p_k L_k");
        Assert.Equal([1.0, 2.0, 3.0], round.ClientLosses);

        sim.RunRound(2);
        foreach (var (path, _) in layers)
            for (int k = 3; k < 6; k++)
            {
                AssertClose(WeightedSum(script.Uploaded.Take(3).Select(u => u[path].B), p), script.Received[k][path].B, 1e-6, $"round-2 B of client {k - 3}");
                AssertClose(WeightedSum(script.Uploaded.Take(3).Select(u => u[path].A), p), script.Received[k][path].A, 1e-6, $"round-2 A of client {k - 3}");
            }
    }

    [Fact]
    public void EveryClientOfARound_StartsFromTheSameGlobalFactors()
    {
        var (_, script, sim) = Setup(new LoraFairAggregation());
        sim.Run(2);
        foreach (var start in new[] { 0, 3 })
            foreach (var path in script.Received[start].Keys)
                for (int k = start + 1; k < start + 3; k++)
                {
                    AssertClose(script.Received[start][path].B, script.Received[k][path].B, 0, path);
                    AssertClose(script.Received[start][path].A, script.Received[k][path].A, 0, path);
                }
    }

    [Fact]
    public void Gaps_FedAvgKeepsTheBias_LoraFairShrinksIt()
    {
        var fedavg = Setup(new FactorAveraging()).Sim.RunRound(1);
        var fair = Setup(new LoraFairAggregation()).Sim.RunRound(1);
        Assert.Equal(fedavg.FactorAverageGap, fedavg.GlobalGap, 12);
        // Same scripted clients: the bias before correction is the same, LoRA-FAIR's global pair is closer.
        Assert.Equal(fedavg.FactorAverageGap, fair.FactorAverageGap, 6);
        Assert.True(fair.GlobalGap < fair.FactorAverageGap, $"{fair.GlobalGap} vs {fair.FactorAverageGap}");
    }

    [Fact]
    public void NonPlainLora_AndEmptyClients_AreRefused()
    {
        var dora = Engine.Peft.Peft.Apply(TinyGpt(), Lora(targets: "fc") with { UseDora = true });
        var client = new FederatedClient("c", 1, (_, _) => { }, _ => 0);
        Assert.Contains("DoraVariant", Assert.Throws<ArgumentException>(() => new FederatedSimulator(dora, new FactorAveraging(), [client])).Message);
        var lora = Engine.Peft.Peft.Apply(TinyGpt(), Lora(targets: "fc"));
        Assert.Contains("data size 0", Assert.Throws<ArgumentException>(() => new FederatedSimulator(lora, new FactorAveraging(), [client with { DataSize = 0 }])).Message);
    }
    [Fact]
    public void PartialParticipation_TrainsADrawOfClients_AndWeightsThemByTheirSizesAmongThemselves()
    {
        var model = Engine.Peft.Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, targets: "fc"));
        var script = new ScriptedClients();
        var called = new List<int>();
        var clients = Enumerable.Range(0, 5).Select(k => script.Client(k, 10 * (k + 1)) is var c
            ? c with { TrainLocally = (m, r) => { called.Add(k); c.TrainLocally(m, r); } } : null!).ToList();
        var sim = new FederatedSimulator(model, new ProductAveraging(), clients, options: new FederatedOptions(ClientFraction: 0.4, SamplingSeed: 3));
        Assert.Equal(2, sim.ParticipantsPerRound);
        var layers = model.AdapterLayers().Select(l => (l.Path, Layer: (LoraLayer)l.Layer)).ToList();
        var draws = new List<IReadOnlyList<int>>();
        for (int t = 1; t <= 6; t++)
        {
            var before = layers.ToDictionary(l => l.Path, l => l.Layer.BaseLayer.Weight.ToDoubleArray());
            int first = script.Uploaded.Count;
            var round = sim.RunRound(t);
            draws.Add(round.Participants);
            Assert.Equal(2, round.Participants.Count);
            Assert.Equal(round.Participants, called.Skip(2 * (t - 1)).ToList());
            // The product rule's global model is Σ p_k B_k A_k with p over the two participants only.
            double total = round.Participants.Sum(k => 10.0 * (k + 1));
            var p = round.Participants.Select(k => 10.0 * (k + 1) / total).ToArray();
            foreach (var (path, layer) in layers)
            {
                int o = layer.OutFeatures, i = layer.InFeatures;
                double s = layer.Settings("default").Scaling;
                var ideal = WeightedSum(script.Uploaded.Skip(first).Select(u => NaiveProduct(u[path].B, u[path].A, o, 2, i)), p);
                var carried = NaiveProduct(layer.LoraB("default").ToDoubleArray(), layer.LoraA("default").ToDoubleArray(), o, 2, i);
                AssertClose(before[path].Select((w, j) => w + s * ideal[j]).ToArray(),
                    layer.BaseLayer.Weight.ToDoubleArray().Select((w, j) => w + s * carried[j]).ToArray(), 1e-5, $"{path} round {t}");
            }
            Assert.Equal(5, round.ClientLosses.Count);
        }
        Assert.True(draws.Select(d => string.Join(",", d)).Distinct().Count() > 1, "the draw changes between rounds");
        Assert.Throws<ArgumentOutOfRangeException>(() => new FederatedSimulator(model, new FactorAveraging(), clients, options: new FederatedOptions(ClientFraction: 0)));
    }

    [Fact]
    public void Traffic_CountsFactorsBothWays_AndTheProductRulesResidualToEveryClient()
    {
        var fedavg = Setup(new FactorAveraging());
        var product = Setup(new ProductAveraging());
        var layers = fedavg.Model.AdapterLayers().Select(l => (LoraLayer)l.Layer).ToList();
        long factors = layers.Sum(l => (l.LoraA("default").Numel + l.LoraB("default").Numel) * 4);
        long residuals = layers.Sum(l => l.BaseLayer.Weight.Numel * 4);
        var a = fedavg.Sim.RunRound(1).Communication;
        Assert.Equal(new FederatedTraffic(3 * factors, 3 * factors), a);
        var b = product.Sim.RunRound(1).Communication;
        Assert.Equal(new FederatedTraffic(3 * factors + 3 * residuals, 3 * factors), b);
        Assert.Equal(FederatedTraffic.None, fedavg.Sim.Evaluate().Communication);
    }

    [Fact]
    public void OneClientWithFullParticipation_IsCentralisedTraining_BitForBit()
    {
        // The client takes plain SGD steps on its own batches; FedAvg of one client must hand back exactly its factors,
        // so R rounds of s steps equal R·s steps of training without a server.
        static PeftModel<Gpt> Fresh() => Engine.Peft.Peft.Apply(TinyGpt(), Lora(r: 2, alpha: 4, targets: "fc"));
        static void Steps(PeftModel model, Generator data, int steps)
        {
            var sgd = new Sgd(model.TrainableParameters().ToList(), 0.05);
            for (int i = 0; i < steps; i++)
            {
                var x = Tensor.Randint(0, 13, [2, 6], generator: data);
                var loss = Losses.CrossEntropy(model.Forward(x), x);
                Autograd.Autograd.Backward(loss);
                sgd.Step();
                sgd.ZeroGrad();
            }
        }
        var federated = Fresh();
        var federatedData = new Generator(9);
        var client = new FederatedClient("only", 7, (m, _) => Steps(m, federatedData, 3), _ => 0);
        new FederatedSimulator(federated, new FactorAveraging(), [client]).Run(4);
        var central = Fresh();
        Steps(central, new Generator(9), 12);
        foreach (var ((path, f), (_, c)) in federated.NamedParameters().Zip(central.NamedParameters()))
            Assert.True(f.ToDoubleArray().SequenceEqual(c.ToDoubleArray()), path);
    }

    [Theory]
    [InlineData("fedavg")]
    [InlineData("product")]
    [InlineData("lora-fair")]
    public void AveragingIdenticalAdapters_IsTheIdentity(string rule)
    {
        IFederatedAggregation aggregation = rule switch { "fedavg" => new FactorAveraging(), "product" => new ProductAveraging(), _ => new LoraFairAggregation() };
        var upload = new LoraFactors(Randn(1, 6, 2), Randn(2, 2, 5));
        var update = aggregation.Aggregate([upload, upload, upload], [0.2, 0.5, 0.3]);
        AssertClose(upload.B.ToDoubleArray(), update.Global.B.ToDoubleArray(), 1e-6, "B");
        AssertClose(upload.A.ToDoubleArray(), update.Global.A.ToDoubleArray(), 1e-6, "A");
        if (update.Residual is { } residual) Assert.All(residual.ToDoubleArray(), v => Assert.Equal(0, v, 6));
    }
}
