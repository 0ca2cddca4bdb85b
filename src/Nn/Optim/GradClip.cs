namespace Engine.Nn;

/// <summary>Gradient-norm clipping (torch.nn.utils.clip_grad_norm_).</summary>
public static class GradClip
{
    /// <summary>Scales all gradients so their global L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipGradNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        var withGrad = parameters.Where(p => p.Grad is not null).ToList();
        double total;
        using (Autograd.Autograd.NoGrad())
        {
            total = Math.Sqrt(withGrad.Sum(p => p.Grad!.To(DType.Float64).Square().Sum().Item()));
            double scale = maxNorm / (total + 1e-6);
            if (scale < 1)
                foreach (var p in withGrad) p.Grad = p.Grad! * scale;
        }
        return total;
    }
}
