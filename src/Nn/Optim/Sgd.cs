namespace Engine.Nn;

/// <summary>Stochastic gradient descent with momentum, Nesterov momentum and (coupled) weight decay, as torch.optim.SGD.</summary>
public sealed class Sgd : Optimizer
{
    public Sgd(IEnumerable<Tensor> parameters, double lr, double momentum = 0, bool nesterov = false, double weightDecay = 0)
        : this([new ParamGroup(parameters, lr, weightDecay)], momentum, nesterov) { }

    public Sgd(IEnumerable<ParamGroup> groups, double momentum = 0, bool nesterov = false) : base(groups)
    {
        if (nesterov && momentum <= 0) throw new ArgumentException("Sgd: Nesterov momentum needs momentum > 0");
        Momentum = momentum;
        Nesterov = nesterov;
    }

    public double Momentum { get; }
    public bool Nesterov { get; }

    protected override void Update(ParamGroup group, Tensor p, Tensor grad, Dictionary<string, Tensor> state)
    {
        var g = group.WeightDecay != 0 ? grad + p * group.WeightDecay : grad;
        if (Momentum != 0)
        {
            // b_t = mu b_{t-1} + g (b_1 = g); Nesterov uses g + mu b_t.
            var buffer = state.TryGetValue("momentum", out var b) ? b * Momentum + g : g.Clone();
            state["momentum"] = buffer;
            g = Nesterov ? g + buffer * Momentum : buffer;
        }
        p.CopyFrom(p - g * group.Lr);
    }
}
