namespace Engine.Peft;

/// <summary>
/// A configuration whose initialisation needs the model run on data (<see cref="CalibrationData"/>): PEFT's EVA,
/// CorDA and LoRA-GA. <see cref="PeftModel.AddAdapter(string, PeftConfig, CalibrationData?)"/> calls
/// <see cref="Calibrate"/> once, before any target is wrapped, and hands each layer its share. Loading a file needs no
/// data (the file holds the initialised tensors), except where the initialisation also changed the base weight
/// (<see cref="LoadNeed"/>).
/// </summary>
public interface ICalibratedConfig
{
    /// <summary>What needs data (PEFT's field and value, for messages), or null when this configuration needs none.</summary>
    string? CalibrationNeed { get; }

    /// <summary>Runs the data through the model and returns the configuration to attach and each target's share.</summary>
    CalibrationResult Calibrate(CalibrationContext context);

    /// <summary>
    /// What loading a file of this configuration needs the data for (PEFT's field and value, for messages), or null when
    /// a file loads alone. CorDA and LoRA-GA moved part of the base weight into the adapter, and the file holds only the
    /// adapter: as PEFT runs preprocess_corda (or preprocess_loraga) before loading, the loader reruns
    /// <see cref="Calibrate"/> on the original base to take the same part out again.
    /// </summary>
    string? LoadNeed => null;
}
