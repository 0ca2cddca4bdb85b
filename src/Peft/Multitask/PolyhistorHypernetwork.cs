namespace Engine.Peft.Multitask;

/// <summary>
/// Polyhistor's shared part (THE ENGINE'S READING of arXiv:2210.03265, section 4; see <see cref="PolyhistorConfig"/>):
/// the task embeddings [n_tasks, e] (<c>base_model.polyhistor_task_embedding</c>, N(0, 1)) and the four linear
/// hypernetworks of the decomposed pair for W_down and for W_up, each a weight [out, 2e] applied to c = [z_task; z_layer]:
/// <c>polyhistor_down_left</c> → L_down [m, k], <c>polyhistor_down_right</c> → R_down [k, d_t],
/// <c>polyhistor_up_left</c> → L_up [d_t, k], <c>polyhistor_up_right</c> → R_up [k, m] (row-major reshapes). Start:
/// U(±1/√(2e)) as nn.Linear's weight (engine choice), <c>polyhistor_up_right</c> zero with init_weights. The template
/// kernels are T_down = L_down R_down [m, d_t] and T_up = L_up R_up [d_t, m]. Each layer's index among the targets
/// picks its layer embedding (held by the layer).
/// </summary>
public sealed class PolyhistorHypernetwork : AdapterModelPart, ISharedTensorOwner
{
    const string Prefix = "base_model.";
    static readonly string[] Names = ["polyhistor_task_embedding", "polyhistor_down_left", "polyhistor_down_right", "polyhistor_up_left", "polyhistor_up_right"];
    readonly Dictionary<string, int> _index;

    /// <summary>Creates the embeddings and hypernetworks for the adapter's targets.</summary>
    public PolyhistorHypernetwork(AdapterModelPartContext context) : base(context)
    {
        var c = (PolyhistorConfig)context.Config;
        _index = context.Targets.Select((t, i) => (t.Path.Engine, i)).ToDictionary(p => p.Engine, p => p.i, StringComparer.Ordinal);
        var (templateWidth, dtype) = Template(c, context);
        TemplateWidth = templateWidth;
        var g = context.CreateGenerator();
        int e2 = 2 * c.EmbeddingDim;
        double bound = 1 / Math.Sqrt(e2);
        foreach (var t in Plan(c, context))
        {
            string name = t.Key[Prefix.Length..];
            var value = name == "polyhistor_task_embedding" ? Tensor.Randn(t.Shape, 0, 1, dtype, g)
                : name == "polyhistor_up_right" && c.InitWeights ? Tensor.Zeros(t.Shape, dtype)
                : Tensor.Rand(t.Shape, -bound, bound, dtype, g);
            RegisterParameter(name, value);
        }
    }

    /// <summary>The template width d_t (the targets' width without templates).</summary>
    public int TemplateWidth { get; }

    /// <summary>The index of the layer at <paramref name="path"/> among the adapter's targets.</summary>
    public int IndexOf(ModulePath path) => _index[path.Engine];

    /// <summary>The task embeddings [n_tasks, e].</summary>
    public Tensor TaskEmbedding => GetParameter("polyhistor_task_embedding");

    /// <summary>A hypernetwork's weight [out, 2e] by its name without prefix (<c>polyhistor_down_left</c>...).</summary>
    public Tensor Hyper(string name) => GetParameter(name);

    /// <summary>The shared tensors' plan: task embeddings and the four hypernetworks.</summary>
    public static IEnumerable<PlannedTensor> Plan(PolyhistorConfig c, AdapterModelPartContext context)
    {
        var (dt, _) = Template(c, context);
        int m = c.BottleneckSize, k = c.HyperRank, e2 = 2 * c.EmbeddingDim;
        return [new PlannedTensor(Prefix + Names[0], [c.NTasks, c.EmbeddingDim]), new PlannedTensor(Prefix + Names[1], [m * k, e2]),
            new PlannedTensor(Prefix + Names[2], [k * dt, e2]), new PlannedTensor(Prefix + Names[3], [dt * k, e2]), new PlannedTensor(Prefix + Names[4], [k * m, e2])];
    }

    static (int Width, DType Dtype) Template(PolyhistorConfig c, AdapterModelPartContext context)
    {
        var linears = context.Targets.Select(t => t.Module is AdapterLayer l ? l.BaseLayer : t.Module as Linear
            ?? throw new NotSupportedException($"Polyhistor adapts Linear layers; '{t.Path.External}' is a {t.Module.GetType().Name}")).ToList();
        if (linears.Count == 0) throw new ArgumentException("Polyhistor: target_modules matched no module");
        var widths = linears.Select(l => l.OutFeatures).Distinct().ToList();
        if (c.TemplateSize is { } dt)
        {
            foreach (var w in widths)
                if (w % dt != 0) throw new ArgumentException($"PolyhistorConfig: template_size {dt} must divide every target's width; got {w}");
            return (dt, linears[0].Weight.DType);
        }
        if (widths.Count > 1) throw new ArgumentException($"PolyhistorConfig: without template_size (no scaling kernels) every target needs one width, got {string.Join(", ", widths)}; set template_size (Polyhistor-Lite)");
        return (widths[0], linears[0].Weight.DType);
    }

    /// <summary>
    /// The template kernels for every task and the layer embedding <paramref name="layerEmbedding"/> [e]: T_down
    /// [n_tasks, m, d_t] and T_up [n_tasks, d_t, m].
    /// </summary>
    public (Tensor Down, Tensor Up) Templates(Tensor layerEmbedding)
    {
        var c = (PolyhistorConfig)Config;
        int n = c.NTasks, m = c.BottleneckSize, k = c.HyperRank, dt = TemplateWidth, e = c.EmbeddingDim;
        var cond = Tensor.Concat([TaskEmbedding, layerEmbedding.Reshape(1, e).Expand(n, e)], 1);       // [n, 2e]
        Tensor Factor(string name, int rows, int cols) => cond.MatMul(Hyper(name).T).Reshape(n, rows, cols);
        var down = Factor("polyhistor_down_left", m, k).MatMul(Factor("polyhistor_down_right", k, dt));
        var up = Factor("polyhistor_up_left", dt, k).MatMul(Factor("polyhistor_up_right", k, m));
        return (down, up);
    }

    /// <inheritdoc/>
    public IEnumerable<SharedTensor> SharedTensors() => Names.Select(n => new SharedTensor(Prefix + n, GetParameter(n), true, true));
}
