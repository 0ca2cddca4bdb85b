namespace Engine.Peft;

/// <summary>
/// The model-level part of one adapter of a method (registered with <see cref="PeftMethodAttribute.ModelPart"/>):
/// created once when the adapter is added, before its layers, and kept on the <see cref="PeftModel"/> under
/// <c>adapter_parts.&lt;adapter&gt;</c>, so its parameters and buffers belong to the model. It opts into the model's hooks
/// by implementing their interfaces: <see cref="ISharedTensorOwner"/>, <see cref="IStepHook"/>,
/// <see cref="ILossRegularizer"/>, <see cref="IInputAdapter"/>, <see cref="ISaveTransform"/>.
/// Derived types have a public constructor taking an <see cref="AdapterModelPartContext"/>.
/// </summary>
public abstract class AdapterModelPart : Module
{
    /// <summary>Records the adapter's name and configuration.</summary>
    protected AdapterModelPart(AdapterModelPartContext context)
    {
        AdapterName = context.AdapterName;
        Config = context.Config;
    }

    /// <summary>The adapter this part belongs to.</summary>
    public string AdapterName { get; }

    /// <summary>The adapter's configuration when it was added.</summary>
    public PeftConfig Config { get; }

    /// <summary>Called once the adapter's layers exist (they can be found with <see cref="PeftModel.AdapterLayers"/>).</summary>
    public virtual void OnLayersCreated(PeftModel model) { }
}

/// <summary>What a model part is created with.</summary>
/// <param name="Model">The adapted model.</param>
/// <param name="AdapterName">The adapter's name.</param>
/// <param name="Config">The adapter's configuration.</param>
/// <param name="Targets">The modules the adapter's layers will wrap, with their paths (empty for input-side methods).</param>
/// <param name="FromFile">True when the adapter is being loaded: a file's tensors replace the initial ones, so the part builds the form files hold.</param>
public sealed record AdapterModelPartContext(PeftModel Model, string AdapterName, PeftConfig Config, IReadOnlyList<(ModulePath Path, Module Module)> Targets, bool FromFile)
{
    /// <summary>The part's own generator (from the config's seed, the adapter's name and the part's place on the model).</summary>
    public Generator CreateGenerator() => AdapterContext.GeneratorFor(Config.Seed, "adapter_parts", AdapterName);
}
