using Engine.Peft.LowRank;

namespace Engine.Peft.Federated;

/// <summary>
/// A federated adapter-training simulation (LoRA-FAIR, arXiv 2411.14961, §3; spec adapters-lowrank.md §9): a server
/// and K clients share one frozen base with one plain LoRA adapter. Each round every client starts from the server's
/// factors, trains locally on its own data, and uploads its (B_k, A_k); the server aggregates them per layer with the
/// pluggable <see cref="IFederatedAggregation"/> (weights p_k ∝ client data size), folds any residual the rule
/// returns into the frozen base, and the global model is measured on every client's validation data.
/// Clients run one after another on the one model, as a simulation on one machine does. With
/// <see cref="FederatedOptions.ClientFraction"/> below 1 a seeded draw picks each round's participants (FedAvg's C;
/// FedPEFT's harness, spec seeds-remaining.md §11), and every round reports the bytes it moved.
/// <code>
/// var sim = new FederatedSimulator(peft, new LoraFairAggregation(), clients);
/// foreach (var round in sim.Run(10)) Console.WriteLine(round.GlobalLoss);
/// </code>
/// </summary>
public sealed class FederatedSimulator
{
    readonly PeftModel _model;
    readonly string _adapter;
    readonly List<(string Path, LoraLayer Layer)> _layers;
    readonly Generator _sampling;

    /// <summary>A simulation of <paramref name="clients"/> training adapter <paramref name="adapterName"/> of <paramref name="model"/>, aggregated by <paramref name="aggregation"/>.</summary>
    /// <exception cref="ArgumentException">No clients, a client without data, an adapter that is not plain LoRA (DoRA and the other variants change what B·A means), or a merged adapter.</exception>
    /// <exception cref="ArgumentOutOfRangeException">A client fraction outside (0, 1].</exception>
    public FederatedSimulator(PeftModel model, IFederatedAggregation aggregation, IReadOnlyList<FederatedClient> clients, string adapterName = "default",
        FederatedOptions? options = null)
    {
        Options = options ?? new FederatedOptions();
        Options.Validate();
        if (clients.Count == 0) throw new ArgumentException("FederatedSimulator: no clients");
        var empty = clients.FirstOrDefault(c => c.DataSize <= 0);
        if (empty is not null) throw new ArgumentException($"FederatedSimulator: client '{empty.Name}' has data size {empty.DataSize}; every client needs at least one training example");
        if (!model.PeftConfigs.TryGetValue(adapterName, out var config) || config is not LoraConfig)
            throw new ArgumentException($"FederatedSimulator: the model has no LoRA adapter named '{adapterName}'");
        _layers = model.AdapterLayers().Where(l => l.Layer.AdapterNames.Contains(adapterName))
            .Select(l => (l.Path, l.Layer as LoraLayer ?? throw new ArgumentException($"FederatedSimulator: '{l.Path}' is not a LoRA layer"))).ToList();
        foreach (var (path, layer) in _layers)
        {
            if (layer.Settings(adapterName).Variant is { } variant)
                throw new ArgumentException($"FederatedSimulator: '{path}' uses the LoRA variant {variant.GetType().Name}; federated aggregation needs plain LoRA (update s·B·A)");
            if (layer.Merged) throw new ArgumentException($"FederatedSimulator: '{path}' is merged; unmerge before simulating");
        }
        _model = model;
        _adapter = adapterName;
        Aggregation = aggregation;
        Clients = clients;
        double total = clients.Sum(c => (double)c.DataSize);
        Weights = clients.Select(c => c.DataSize / total).ToArray();
        _sampling = new Generator(Options.SamplingSeed);
    }

    /// <summary>Participation and sampling.</summary>
    public FederatedOptions Options { get; }

    /// <summary>How many clients train in each round: max(1, round(C·K)).</summary>
    public int ParticipantsPerRound => Math.Max(1, (int)Math.Round(Options.ClientFraction * Clients.Count, MidpointRounding.AwayFromZero));

    /// <summary>The server's rule.</summary>
    public IFederatedAggregation Aggregation { get; }

    /// <summary>The clients, in the order they train.</summary>
    public IReadOnlyList<FederatedClient> Clients { get; }

    /// <summary>p_k = n_k / Σ n: the clients' aggregation weights at full participation (and the weights of the global loss).</summary>
    public IReadOnlyList<double> Weights { get; }

    /// <summary>The global model's validation losses without training (round 0, gaps NaN).</summary>
    public FederatedRound Evaluate(int round = 0) => Measure(round, double.NaN, double.NaN);

    /// <summary>Runs rounds 1..<paramref name="rounds"/>, reporting each to <paramref name="onRound"/> as it ends.</summary>
    public IReadOnlyList<FederatedRound> Run(int rounds, Action<FederatedRound>? onRound = null)
    {
        if (rounds < 1) throw new ArgumentOutOfRangeException(nameof(rounds), rounds, "FederatedSimulator.Run: at least one round");
        var records = new List<FederatedRound>();
        for (int t = 1; t <= rounds; t++)
        {
            var record = RunRound(t);
            records.Add(record);
            onRound?.Invoke(record);
        }
        return records;
    }

    /// <summary>One round: local training from the global factors on each participant, aggregation, folding, measurement.</summary>
    public FederatedRound RunRound(int round)
    {
        var participants = DrawParticipants();
        double share = participants.Sum(k => (double)Clients[k].DataSize);
        var weights = participants.Select(k => Clients[k].DataSize / share).ToArray();
        var global = _layers.Select(l => Read(l.Layer)).ToList();
        var uploads = _layers.Select(_ => new List<LoraFactors>()).ToList();
        foreach (int k in participants)
        {
            for (int i = 0; i < _layers.Count; i++) Write(_layers[i].Layer, global[i]);
            Clients[k].TrainLocally(_model, round);
            for (int i = 0; i < _layers.Count; i++) uploads[i].Add(Read(_layers[i].Layer));
        }
        double target = 0, averageError = 0, globalError = 0;
        long factorBytes = 0, residualBytes = 0;
        for (int i = 0; i < _layers.Count; i++)
        {
            var layer = _layers[i].Layer;
            var update = Aggregation.Aggregate(uploads[i], weights);
            var ideal = ClientAverage.Product(uploads[i], weights);
            target += ClientAverage.SquaredNorm(ideal);
            averageError += ClientAverage.SquaredNorm(ideal - ClientAverage.Factors(uploads[i], weights).Product());
            globalError += ClientAverage.SquaredNorm(ideal - update.CarriedProduct());
            Write(layer, update.Global);
            int elementSize = layer.LoraA(_adapter).DType.SizeOf();
            factorBytes += (layer.LoraA(_adapter).Numel + layer.LoraB(_adapter).Numel) * elementSize;
            if (update.Residual is { } residual)
            {
                Fold(layer, residual);
                residualBytes += residual.Numel * elementSize;
            }
        }
        var traffic = new FederatedTraffic(participants.Length * factorBytes + Clients.Count * residualBytes, participants.Length * factorBytes);
        return Measure(round, Math.Sqrt(averageError / target), Math.Sqrt(globalError / target), participants, traffic);
    }

    // The round's participants in increasing order: all clients, or a uniform draw without replacement of
    // ParticipantsPerRound of them (random keys from the run's generator, the smallest win).
    int[] DrawParticipants()
    {
        int m = ParticipantsPerRound;
        if (m == Clients.Count) return [.. Enumerable.Range(0, m)];
        var keys = Tensor.Rand([Clients.Count], dtype: DType.Float64, generator: _sampling).ToArray<double>();
        return [.. Enumerable.Range(0, Clients.Count).OrderBy(k => keys[k]).ThenBy(k => k).Take(m).Order()];
    }

    FederatedRound Measure(int round, double averageGap, double globalGap, int[]? participants = null, FederatedTraffic? traffic = null)
    {
        var losses = Clients.Select(c => c.ValidationLoss(_model)).ToArray();
        return new FederatedRound(round, losses.Select((l, k) => Weights[k] * l).Sum(), losses, averageGap, globalGap, participants ?? [], traffic ?? FederatedTraffic.None);
    }

    LoraFactors Read(LoraLayer layer) => new(layer.LoraB(_adapter).Detach().Clone(), layer.LoraA(_adapter).Detach().Clone());

    void Write(LoraLayer layer, LoraFactors factors)
    {
        var (b, a) = (layer.LoraB(_adapter), layer.LoraA(_adapter));
        if (!factors.B.Shape.SequenceEqual(b.Shape) || !factors.A.Shape.SequenceEqual(a.Shape))
            throw new ArgumentException($"FederatedSimulator: {Aggregation.Name} returned B {Shapes.Format(factors.B.Shape)} and A {Shapes.Format(factors.A.Shape)} for a layer with B {Shapes.Format(b.Shape)} and A {Shapes.Format(a.Shape)}");
        using var _ = Autograd.Autograd.NoGrad();
        b.CopyFrom(factors.B.To(b.DType).To(b.Device));
        a.CopyFrom(factors.A.To(a.DType).To(a.Device));
    }

    // W0 ← W0 + s·R: the frozen base absorbs what the factors cannot carry.
    void Fold(LoraLayer layer, Tensor residual)
    {
        var weight = layer.BaseLayer.Weight;
        if (!residual.Shape.SequenceEqual(weight.Shape))
            throw new ArgumentException($"FederatedSimulator: {Aggregation.Name} returned a residual {Shapes.Format(residual.Shape)} for a base weight {Shapes.Format(weight.Shape)}");
        using var _ = Autograd.Autograd.NoGrad();
        double scale = layer.Settings(_adapter).Scaling;
        weight.CopyFrom((weight.Detach().To(DType.Float64) + residual.To(DType.Float64) * scale).To(weight.DType).To(weight.Device));
    }
}
