using System.Text.Json.Serialization;

namespace Engine.Peft.Multitask;

/// <summary>
/// Polyhistor and Polyhistor-Lite (Liu et al., NeurIPS 2022, arXiv:2210.03265; spec adapters-other.md §13: paper only,
/// no public code, formulas undetermined). THE ENGINE'S READING of the paper's description: every targeted module gets
/// a bottleneck adapter y = h + f(h W_down^T / √d) W_up^T / √m (h the module output, width d; bottleneck m) whose
/// weights come from a hypernetwork shared by every layer and task, conditioned on c = [task embedding; layer
/// embedding]. "Decomposed hypernetworks": each weight is the product of a left and a right factor, each factor the
/// output of its own small linear hypernetwork of c (so the hypernetworks output m·k + k·d numbers instead of m·d).
/// "Layer-wise scaling kernels" (<see cref="TemplateSize"/> set: Polyhistor-Lite): the hypernetworks produce template
/// kernels of a small width d_t shared by all layers, and each layer scales them to its width by a Kronecker product
/// with its own scaling kernel, W_down = S_down ⊗ T_down (S_down [1, d/d_t]), W_up = S_up ⊗ T_up (S_up [d/d_t, 1]).
/// Every size, the linear form of the hypernetworks, the fixed 1/√d, 1/√m and every initialisation are engine choices
/// (documented on each field; docs/adapters.md). Task-routed like Poly (<see cref="TaskIds"/>, <c>default_task_id</c>).
/// Not mergeable (the adapter is non-linear and per task).
/// <code>var peft = Peft.Apply(gpt, new PolyhistorConfig { NTasks = 2, TargetModules = ["attn.proj", "mlp.proj"] });
/// var logits = peft.ForwardForTasks(ids, [0, 1]);</code>
/// </summary>
[PeftMethod("POLYHISTOR", Layer = typeof(PolyhistorLayer), ModelPart = typeof(PolyhistorHypernetwork), Mergeable = false, StartsAtBase = true, InPeft = false,
    ZooLearningRate = 3e-2, Variants = ["polyhistor-lite: template_size=8"])]
public sealed record PolyhistorConfig : PeftConfig, ITaskRoutedConfig
{
    /// <summary>The bottleneck width m of every generated adapter (engine default 8).</summary>
    public int BottleneckSize { get; init; } = 8;

    /// <summary>The rank k of the decomposed hypernetworks: each generated weight is a left [·, k] times a right [k, ·] factor (engine default 2).</summary>
    public int HyperRank { get; init; } = 2;

    /// <summary>The width e of the task embeddings and of the layer embeddings (c has 2e entries; engine default 8).</summary>
    public int EmbeddingDim { get; init; } = 8;

    /// <summary>
    /// The width d_t of the template kernels (Polyhistor-Lite: layer-wise scaling kernels scale them to each module's
    /// width d, which d_t must divide); null: no scaling kernels, the hypernetworks produce full-width weights (every
    /// target must then have one width).
    /// </summary>
    public int? TemplateSize { get; init; }

    /// <summary>Number of tasks (one embedding each).</summary>
    public int NTasks { get; init; } = 1;

    /// <summary>The adapters' non-linearity f: "gelu", "relu" or "tanh".</summary>
    public string Activation { get; init; } = "gelu";

    /// <summary>
    /// True: the hypernetwork of W_up's right factor starts at zero, so W_up = 0 and the adapted model is the base
    /// (the engine's choice, as LoRA's B); false: it starts random as the others (a debug start).
    /// </summary>
    public bool InitWeights { get; init; } = true;

    /// <inheritdoc/>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? DefaultTaskId { get; init; }

    /// <inheritdoc/>
    [JsonIgnore]
    public int TaskCount => NTasks;

    /// <inheritdoc/>
    public override IEnumerable<PlannedTensor> PlanModelPart(AdapterModelPartContext context) => PolyhistorHypernetwork.Plan(this, context);

    /// <inheritdoc/>
    public override void Validate()
    {
        if (BottleneckSize < 1) throw new ArgumentException($"PolyhistorConfig: bottleneck_size must be positive, got {BottleneckSize}");
        if (HyperRank < 1) throw new ArgumentException($"PolyhistorConfig: hyper_rank must be positive, got {HyperRank}");
        if (EmbeddingDim < 1) throw new ArgumentException($"PolyhistorConfig: embedding_dim must be positive, got {EmbeddingDim}");
        if (TemplateSize is < 1) throw new ArgumentException($"PolyhistorConfig: template_size must be positive, got {TemplateSize}");
        if (NTasks < 1) throw new ArgumentException($"PolyhistorConfig: n_tasks must be positive, got {NTasks}");
        if (Activation is not ("gelu" or "relu" or "tanh")) throw new ArgumentException($"PolyhistorConfig: activation '{Activation}' is not one of gelu, relu, tanh");
        if (DefaultTaskId is { } d && (d < 0 || d >= NTasks)) throw new ArgumentException($"PolyhistorConfig: default_task_id must lie in [0, n_tasks = {NTasks}), got {d}");
    }

    /// <summary>
    /// The number of trainable tensors' entries for <paramref name="layers"/> targets of width <paramref name="width"/>:
    /// the hypernetworks 2e·(m·k + k·d_t + d_t·k + k·m) (d_t = d without templates), the task embeddings n_tasks·e, the
    /// layer embeddings L·e, and with templates the scaling kernels L·2·d/d_t.
    /// </summary>
    public long TrainableCount(int layers, int width)
    {
        int m = BottleneckSize, k = HyperRank, e = EmbeddingDim, dt = TemplateSize ?? width;
        long count = 2L * e * (m * k + k * dt + dt * k + k * m) + (long)NTasks * e + (long)layers * e;
        if (TemplateSize is not null) count += (long)layers * 2 * (width / dt);
        return count;
    }

    /// <summary>
    /// The zoo's Polyhistor: bottleneck m = size after both sub-layer outputs and hypernetwork rank k = size (so the
    /// generated weights can reach full rank m; about half LoRA's trainable count at the same size on the names GPT),
    /// one task (every example task 0).
    /// </summary>
    public static PolyhistorConfig Preset(AdapterPreset p) => new()
    {
        BottleneckSize = p.Size, HyperRank = p.Size, TargetModules = p.SublayerOutputs, DefaultTaskId = 0, Seed = p.Seed,
    };
}
