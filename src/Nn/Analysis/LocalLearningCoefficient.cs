namespace Engine.Nn;

/// <summary>
/// The local learning coefficient λ̂ of a trained point w* (spec seeds-remaining.md §9a; Lau et al. 2023, devinterp
/// <c>slt/llc.py</c>): run <see cref="LlcOptions.Chains"/> chains of localised SGLD (<see cref="Sgld"/>) from w*, keep
/// <see cref="LlcOptions.Draws"/> draws of each after a burn-in, and return
/// <c>λ̂ = nβ (E_chain[L(w)] − L(w*))</c>, averaged over chains.
/// <para>
/// The loss in the expectation is the minibatch loss of each draw, as devinterp: the same forward pass that gives the
/// gradient of the step taken from w_t (so L is evaluated at w_t before the step); L(w*) is the mean minibatch loss at
/// w* over <see cref="LlcOptions.InitBatches"/> batches. Both are unbiased estimates of L_n, so λ̂ estimates
/// nβ (E[L_n(w)] − L_n(w*)); a loss function that ignores its generator gives the full-batch estimator.
/// </para>
/// The parameters are restored bit-exactly to w* afterwards (and their gradients to what they were), even on failure.
/// <code>var r = LocalLearningCoefficient.Estimate(model.Parameters().ToList(), g => Loss(model, data.Batch(64, g)), n, new LlcOptions { StepSize = 1e-4 });</code>
/// </summary>
public static class LocalLearningCoefficient
{
    /// <summary>
    /// λ̂ at the current values of <paramref name="parameters"/> (w*). <paramref name="minibatchLoss"/> returns the mean
    /// loss of a minibatch it draws with the generator it is given (recording, so that its gradient reaches the
    /// parameters); <paramref name="sampleCount"/> is n, the size of the data set the loss averages over.
    /// </summary>
    public static LlcResult Estimate(IReadOnlyList<Tensor> parameters, Func<Generator, Tensor> minibatchLoss, long sampleCount, LlcOptions options)
    {
        options.Validate();
        if (parameters.Count == 0) throw new ArgumentException("LocalLearningCoefficient: no parameters to sample");
        double nBeta = options.NBeta ?? Sgld.DefaultNBeta(sampleCount);
        var optimum = parameters.Select(p => p.Detach().Clone()).ToArray();
        var grads = parameters.Select(p => p.Grad).ToArray();
        var data = new Generator(options.Seed);
        var noise = new Generator(options.Seed + 1);
        try
        {
            double init = 0;
            int initBatches = options.InitBatches ?? options.Chains;
            using (Autograd.Autograd.NoGrad())
                for (int i = 0; i < initBatches; i++) init += LossValue(minibatchLoss(data), "L(w*)");
            init /= initBatches;

            var chainLlcs = new double[options.Chains];
            var traces = new double[options.Chains][];
            int steps = options.BurnIn + options.Draws * options.StepsPerDraw;
            for (int c = 0; c < options.Chains; c++)
            {
                Restore(parameters, optimum);
                var sampler = new Sgld(parameters, options.StepSize, nBeta, options.Localization, options.NoiseLevel, options.WeightDecay, noise);
                var trace = traces[c] = new double[options.Draws];
                int kept = 0;
                for (int t = 0; t < steps; t++)
                {
                    sampler.ZeroGrad();
                    var loss = minibatchLoss(data);
                    double value = LossValue(loss, $"chain {c}, step {t}");
                    int afterBurnIn = t - options.BurnIn;
                    if (afterBurnIn >= 0 && afterBurnIn % options.StepsPerDraw == 0) trace[kept++] = value;
                    Autograd.Autograd.Backward(loss);
                    sampler.Step();
                }
                chainLlcs[c] = nBeta * (trace.Average() - init);
            }
            return new LlcResult(chainLlcs.Average(), chainLlcs, traces, init, nBeta);
        }
        finally
        {
            Restore(parameters, optimum);
            for (int i = 0; i < parameters.Count; i++) parameters[i].Grad = grads[i];
        }
    }

    static double LossValue(Tensor loss, string where)
    {
        if (loss.Numel != 1) throw new ArgumentException($"LocalLearningCoefficient: the loss must be a scalar, got shape {Shapes.Format(loss.Shape)}");
        double value = loss.Item();
        if (!double.IsFinite(value))
            throw new InvalidOperationException($"LocalLearningCoefficient: the loss became {value} at {where}; the chain diverged, lower the step size ε or raise the localization γ");
        return value;
    }

    static void Restore(IReadOnlyList<Tensor> parameters, Tensor[] values)
    {
        using (Autograd.Autograd.NoGrad())
            for (int i = 0; i < parameters.Count; i++) parameters[i].CopyFrom(values[i]);
    }
}
