namespace Engine.Peft;

/// <summary>
/// Entry points, as Hugging Face PEFT's <c>get_peft_model</c> and <c>PeftModel.from_pretrained</c>.
/// <code>var peft = Peft.Apply(gpt, new LoraConfig { R = 4, TargetModules = ["c_attn", "c_proj"] });</code>
/// </summary>
public static class Peft
{
    /// <summary>
    /// Attaches adapter <paramref name="adapterName"/> described by <paramref name="config"/> to <paramref name="model"/>
    /// (changed in place), freezes everything else and returns the adapted model.
    /// </summary>
    /// <remarks>Initialisations that run the model on data first (EVA, CorDA, LoRA-GA: <see cref="ICalibratedConfig"/>)
    /// take it as <paramref name="calibration"/>; other methods ignore it.</remarks>
    public static PeftModel<T> Apply<T>(T model, PeftConfig config, string adapterName = "default", IExternalModuleNames? naming = null,
        CalibrationData? calibration = null) where T : Module
    {
        var peft = new PeftModel<T>(model, naming);
        peft.AddAdapter(adapterName, config, calibration);
        return peft;
    }

    /// <summary>
    /// Loads an adapter written in PEFT's layout (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>) onto
    /// <paramref name="model"/>. Frozen unless <paramref name="trainable"/> (PEFT's <c>is_trainable</c>).
    /// </summary>
    /// <remarks>A file whose initialisation changed the base weight from data (CorDA, LoRA-GA) needs that data, run on
    /// <paramref name="model"/>, as <paramref name="calibration"/>; other files ignore it.</remarks>
    public static PeftModel<T> FromPretrained<T>(T model, string folder, string adapterName = "default", bool trainable = false, IExternalModuleNames? naming = null,
        CalibrationData? calibration = null) where T : Module
    {
        var peft = new PeftModel<T>(model, naming);
        peft.LoadAdapter(folder, adapterName, trainable, calibration);
        return peft;
    }
}
