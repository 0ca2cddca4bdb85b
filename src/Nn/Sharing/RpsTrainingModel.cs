namespace Engine.Nn;

/// <summary>
/// A roasted GPT as the <see cref="Trainer"/> sees it: the model (registered as <c>model</c>) with STABLE-RPS's gradient
/// scaling as its after-backward hook (<see cref="StableRps.ScaleGradients"/>), so that the shared training loop applies
/// it before every optimiser step. The Trainer clips gradients before this hook; FakeRoast's sample loop
/// (<c>sample_usage/roasted.py</c>) scales right after backward and does not clip.
/// <code>
/// var (gpt, rps) = SharedGpt.Rps(config, 0.25, new Generator(1));
/// new Trainer(new RpsTrainingModel(gpt, rps), new AdamW(gpt.Parameters(), 3e-3), options).Run(step => Losses.CrossEntropy(gpt.Forward(x), y));
/// </code>
/// </summary>
public sealed class RpsTrainingModel : Module, ITrainingHooks, IModuleWrapper
{
    readonly StableRps _rps;

    /// <summary>Wraps <paramref name="model"/>, roasted as <paramref name="rps"/> describes.</summary>
    public RpsTrainingModel(Gpt model, StableRps rps)
    {
        RegisterModule("model", model);
        _rps = rps;
    }

    /// <summary>The roasted GPT.</summary>
    public Module Wrapped => Child("model");

    /// <summary>The GPT's logits.</summary>
    public override Tensor Forward(Tensor input) => Wrapped.Forward(input);

    /// <summary>None: the scaling is a gradient transform, not a loss term.</summary>
    public Tensor? RegularizationLoss() => null;

    /// <summary>Divides the memory's gradient by the STABLE-RPS scale.</summary>
    public void AfterBackward(int step) => _rps.ScaleGradients();

    /// <summary>Nothing after the step.</summary>
    public void AfterOptimizerStep(int step) { }
}
