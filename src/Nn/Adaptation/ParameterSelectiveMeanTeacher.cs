namespace Engine.Nn;

/// <summary>What one <see cref="ParameterSelectiveMeanTeacher.Adapt"/> call did.</summary>
/// <param name="Prediction">The logits it predicts the batch with, teacher + student (before this step's update), [B, C].</param>
/// <param name="Loss">The adaptation loss of the step.</param>
/// <param name="RestoredFraction">The fraction of trainable entries reset to their initial values (the mask M).</param>
/// <param name="AveragedTeacher">Whether the source model's confidence was below the threshold, so the teacher was averaged over augmented passes.</param>
public sealed record PsmtStep(Tensor Prediction, double Loss, double RestoredFraction, bool AveragedTeacher);

/// <summary>
/// PSMT, the parameter-selective mean teacher for continual test-time adaptation (Tian et al.; JiaxuTian/PSMT
/// <c>classification/methods/psmt.py</c>; spec seeds-remaining.md §4). A student θ adapts on each unlabelled test batch,
/// a teacher θ′ follows it by EMA, and the source model θ_src anchors both:
/// <list type="number">
/// <item>s = f_θ(x), t = f_θ′(x); if the source model's mean top probability is below the threshold, t is the mean of
/// N_aug teacher passes over augmented inputs (with no augmentation given, t itself, which is what the released code
/// computes: its passes see the un-augmented x).</item>
/// <item>L = ½ SCE(s, t) + ½ SCE(s_aug, t) + λ Σ F0 ⊙ (θ − θ_src)², F0 the source Fisher (<see cref="SourceFisher"/>).</item>
/// <item>g = ∂L/∂θ; τ = the <see cref="PsmtOptions.Quantile"/>-quantile of g² over every trainable entry (<see cref="LinearQuantile"/>).</item>
/// <item>Adam step on θ, then the teacher's EMA θ′ ← m θ′ + (1 − m) θ.</item>
/// <item>M = [g² &lt; τ]: θ ← M ⊙ θ_init + (1 − M) ⊙ θ, and θ′ ← M ⊙ θ + (1 − M) ⊙ θ′.</item>
/// <item>The batch is predicted with t + s.</item>
/// </list>
/// The released code applies the teacher's EMA twice to the unmasked entries (once in step 4, again inside step 6);
/// the paper's update, once, is followed here. The teacher and the source model are not copies of the module: their
/// values are swapped into the module's parameters for their forward passes, so any module works.
/// </summary>
public sealed class ParameterSelectiveMeanTeacher
{
    readonly Func<Tensor, Tensor> _logits;
    readonly Func<Tensor, Tensor>? _augment;
    readonly Tensor[] _parameters, _initial, _source, _teacher;
    readonly Tensor[]? _fisher;
    readonly Adam _optimizer;

    /// <summary>
    /// Adapts the trainable parameters of <paramref name="model"/>, whose logits [B, C] for inputs x are
    /// <paramref name="logits"/>(x); <paramref name="sourceFisher"/> (one tensor per trainable parameter, in order)
    /// enables the anchor term; <paramref name="augment"/> gives the augmented views.
    /// </summary>
    /// <exception cref="ArgumentException">No trainable parameters, or a Fisher list that does not match them.</exception>
    public ParameterSelectiveMeanTeacher(Module model, Func<Tensor, Tensor> logits, PsmtOptions? options = null,
        IReadOnlyList<Tensor>? sourceFisher = null, Func<Tensor, Tensor>? augment = null)
    {
        Options = options ?? new PsmtOptions();
        Options.Validate();
        _logits = logits;
        _augment = augment;
        _parameters = [.. model.TrainableParameters()];
        if (_parameters.Length == 0) throw new ArgumentException("ParameterSelectiveMeanTeacher: the model has no trainable parameters");
        if (sourceFisher is not null && (sourceFisher.Count != _parameters.Length || sourceFisher.Zip(_parameters).Any(p => !p.First.Shape.SequenceEqual(p.Second.Shape))))
            throw new ArgumentException($"ParameterSelectiveMeanTeacher: the source Fisher has {sourceFisher.Count} tensors; it needs one per trainable parameter ({_parameters.Length}) with its shape");
        _fisher = sourceFisher?.Select(f => f.Detach().Clone()).ToArray();
        _initial = Snapshot();
        _source = Snapshot();
        _teacher = Snapshot();
        _optimizer = new Adam(_parameters, Options.LearningRate);
    }

    /// <summary>The settings.</summary>
    public PsmtOptions Options { get; }

    /// <summary>The teacher's parameter values θ′, in the order of the model's trainable parameters.</summary>
    public IReadOnlyList<Tensor> Teacher => _teacher;

    /// <summary>The last step's mask M (true where an entry was restored), per trainable parameter; empty before the first step.</summary>
    public IReadOnlyList<Tensor> LastMask { get; private set; } = [];

    /// <summary>One adaptation step on the unlabelled batch <paramref name="x"/>.</summary>
    public PsmtStep Adapt(Tensor x)
    {
        var o = Options;
        var s = _logits(x);
        Tensor t;
        bool averaged;
        using (Autograd.Autograd.NoGrad())
        {
            t = WithValues(_teacher, () => _logits(x));
            double confidence = WithValues(_source, () => _logits(x)).Softmax(-1).Max(-1).Values.Mean().Item();
            averaged = confidence < o.AnchorThreshold;
            if (averaged && _augment is not null)
            {
                var sum = t.ZerosLike();
                for (int i = 0; i < o.AugmentationPasses; i++) sum = sum + WithValues(_teacher, () => _logits(_augment(x)));
                t = sum / o.AugmentationPasses;
            }
        }
        var sAugmented = _augment is null ? s : _logits(_augment(x));
        var loss = SymmetricCrossEntropy.Compute(s, t, o.Alpha) * 0.5 + SymmetricCrossEntropy.Compute(sAugmented, t, o.Alpha) * 0.5;
        if (_fisher is not null && o.Lambda > 0)
            for (int j = 0; j < _parameters.Length; j++)
                loss = loss + (_fisher[j] * (_parameters[j] - _source[j]).Square()).Sum() * o.Lambda;
        double lossValue = loss.Item();
        var prediction = (t + s.Detach()).Detach();

        var grads = Autograd.Autograd.Grad(loss, _parameters);
        var squared = grads.Select(g => g.Detach().Square()).ToArray();
        double tau = LinearQuantile.Of(squared.SelectMany(g => g.ToDoubleArray()).ToList(), o.Quantile);
        for (int j = 0; j < _parameters.Length; j++) _parameters[j].Grad = grads[j];
        _optimizer.Step();
        _optimizer.ZeroGrad();

        long restored = 0, total = 0;
        var masks = new Tensor[_parameters.Length];
        using (Autograd.Autograd.NoGrad())
            for (int j = 0; j < _parameters.Length; j++)
            {
                var p = _parameters[j];
                var teacherEma = _teacher[j] * o.Momentum + p.Detach() * (1 - o.Momentum);
                var mask = squared[j].Lt(tau);
                masks[j] = mask;
                var restoredValues = Tensor.Where(mask, _initial[j], p.Detach());
                p.CopyFrom(restoredValues);
                _teacher[j] = Tensor.Where(mask, restoredValues, teacherEma).Detach();
                restored += (long)mask.To(DType.Float64).Sum().Item();
                total += p.Numel;
            }
        LastMask = masks;
        return new PsmtStep(prediction, lossValue, restored / (double)total, averaged);
    }

    Tensor[] Snapshot()
    {
        using var _ = Autograd.Autograd.NoGrad();
        return [.. _parameters.Select(p => p.Detach().Clone())];
    }

    // Runs f with the module's trainable parameters temporarily holding values, then puts the student's back.
    T WithValues<T>(Tensor[] values, Func<T> f)
    {
        var student = Snapshot();
        using (Autograd.Autograd.NoGrad()) for (int j = 0; j < _parameters.Length; j++) _parameters[j].CopyFrom(values[j]);
        try { return f(); }
        finally
        {
            using (Autograd.Autograd.NoGrad()) for (int j = 0; j < _parameters.Length; j++) _parameters[j].CopyFrom(student[j]);
        }
    }
}
