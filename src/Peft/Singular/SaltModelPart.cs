namespace Engine.Peft.Singular;

/// <summary>
/// SALT's loss term (SALT.py's reg_loss, added as loss += reg_loss · reg_multiplier in train.py): reg_multiplier ·
/// Σ_layers (‖diag(α⊙S_top+β) − diag(S_top)‖_F + ‖X Y‖_F). It is zero at init and absent when reg_multiplier is 0
/// (the reference's setting).
/// </summary>
public sealed class SaltModelPart(AdapterModelPartContext context) : AdapterModelPart(context), ILossRegularizer
{
    /// <inheritdoc/>
    public Tensor? Regularizer(PeftModel model)
    {
        var weight = ((SaltConfig)Config).RegMultiplier;
        if (weight == 0) return null;
        Tensor? total = null;
        foreach (var (_, layer) in model.AdapterLayers())
            if (layer is SaltLayer salt && salt.AdapterNames.Contains(AdapterName))
            {
                var term = salt.Penalty(AdapterName);
                total = total is null ? term : total + term;
            }
        return total is null ? null : total * weight;
    }
}
