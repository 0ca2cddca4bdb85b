using Engine.Nn.Checkpoints;
using Engine.Peft.Inserted;

namespace Engine.Peft.Transfer;

/// <summary>
/// The K frozen source adapters of one ScaLearn module: child <c>k</c> holds source k's <c>adapter_down</c> [m_k, d] and
/// <c>adapter_up</c> [d, m_k] (with biases), the tensors of a <see cref="BottleneckLayer"/> on the same module. The
/// source's output a_k = f(h W_down^T + b_down) W_up^T + b_up is the reference's <c>up</c> (Adapter.forward, scaling 1).
/// </summary>
public sealed class ScaLearnSources : Module
{
    readonly string _activation;

    /// <summary>Sources of bottleneck widths <paramref name="sizes"/> on a module of width <paramref name="width"/>.</summary>
    public ScaLearnSources(int width, IReadOnlyList<int> sizes, string activation, Generator generator)
    {
        _activation = activation;
        for (int k = 0; k < sizes.Count; k++) RegisterModule($"{k}", new Source(width, sizes[k], generator));
    }

    /// <summary>The number K of sources.</summary>
    public int Count => Children().Count();

    /// <summary>Source <paramref name="k"/>'s down-projection.</summary>
    public Linear Down(int k) => ((Source)Child($"{k}")).Down;

    /// <summary>Source <paramref name="k"/>'s up-projection.</summary>
    public Linear Up(int k) => ((Source)Child($"{k}")).Up;

    /// <summary>a_k for the module output <paramref name="h"/> [..., d].</summary>
    public Tensor Output(int k, Tensor h)
    {
        var z = Down(k).Forward(h);
        z = _activation switch { "relu" => z.Relu(), "tanh" => z.Tanh(), _ => z.Gelu() };
        return Up(k).Forward(z);
    }

    /// <summary>Not a layer: use <see cref="Output"/>.</summary>
    public override Tensor Forward(Tensor input) => throw new NotSupportedException("ScaLearnSources: call Output(k, h)");

    sealed class Source : Module
    {
        public Source(int width, int size, Generator generator)
        {
            RegisterModule("adapter_down", new Linear(width, size, true, generator));
            RegisterModule("adapter_up", new Linear(size, width, true, generator));
        }

        public Linear Down => (Linear)Child("adapter_down");

        public Linear Up => (Linear)Child("adapter_up");
    }

    /// <summary>
    /// The config of each source of <paramref name="c"/> (read from its folder, or the in-place one) with its folder
    /// (null in place). Each must be a BOTTLENECK adapter with <paramref name="c"/>'s activation.
    /// </summary>
    public static IReadOnlyList<(BottleneckConfig Config, string? Folder)> Describe(ScaLearnConfig c)
    {
        var list = new List<(BottleneckConfig, string?)>();
        foreach (var path in c.Adapters ?? [])
        {
            var folder = Resolve(c, path);
            var config = AdapterFiles.ReadConfig(folder) as BottleneckConfig
                ?? throw new InvalidDataException($"ScaLearn: source '{folder}' is not a BOTTLENECK adapter");
            if (config.Activation != c.Activation)
                throw new ArgumentException($"ScaLearn: source '{folder}' uses activation '{config.Activation}', the ScaLearn config '{c.Activation}'");
            list.Add((config, folder));
        }
        foreach (var s in c.NewSources ?? []) list.Add((s, null));
        return list;
    }

    // As X-LoRA's experts: an absolute path, else against the config's own folder, then the working directory.
    static string Resolve(ScaLearnConfig c, string path)
    {
        var candidates = Path.IsPathRooted(path) ? [path]
            : c.SourceFolder is { } f ? new[] { Path.Combine(f, path), Path.GetFullPath(path) } : [Path.GetFullPath(path)];
        foreach (var candidate in candidates)
            if (File.Exists(Path.Combine(candidate, AdapterFiles.ConfigFileName))) return candidate;
        throw new FileNotFoundException($"ScaLearn: source adapter '{path}' has no {AdapterFiles.ConfigFileName}; tried {string.Join(", ", candidates.Select(t => $"'{t}'"))}");
    }

    /// <summary>Copies source <paramref name="k"/>'s trained tensors for the module at <paramref name="path"/> from its folder.</summary>
    public void CopyFrom(int k, string folder, ModulePath path)
    {
        var file = Path.Combine(folder, AdapterFiles.WeightsFileName);
        var tensors = Safetensors.Load(file);
        foreach (var (member, target) in new[] { ("adapter_down.weight", Down(k).Weight), ("adapter_down.bias", Down(k).Bias!), ("adapter_up.weight", Up(k).Weight), ("adapter_up.bias", Up(k).Bias!) })
        {
            string key = AdapterFiles.KeyPrefix + path.External + "." + member;
            if (!tensors.TryGetValue(key, out var value))
                throw new ArgumentException($"ScaLearn: source '{folder}' has no '{key}': every source must adapt each module ScaLearn targets");
            if (!value.Shape.SequenceEqual(target.Shape))
                throw new ArgumentException($"ScaLearn: source '{folder}' has '{key}' of shape {Shapes.Format(value.Shape)}, expected {Shapes.Format(target.Shape)}");
            using (Autograd.Autograd.NoGrad()) target.CopyFrom(value.To(target.DType));
        }
    }
}
