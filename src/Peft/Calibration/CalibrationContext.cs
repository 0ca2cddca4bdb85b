namespace Engine.Peft;

/// <summary>
/// What a calibrated initialisation (<see cref="ICalibratedConfig"/>) gets: the adapted model before any of the new
/// adapter's layers exist, the adapter's name, its targets (engine and external paths, and the module now at each: a
/// plain layer, or an adapter layer of an earlier adapter of the same method) and the data.
/// </summary>
public sealed record CalibrationContext(PeftModel Model, string AdapterName, IReadOnlyList<(ModulePath Path, Module Module)> Targets, CalibrationData Data);

/// <summary>
/// What a calibrated initialisation found: the configuration to attach (EVA writes the ranks it chose into
/// <c>rank_pattern</c>, as PEFT does) and, per target's engine path, what the target's layer receives as
/// <see cref="AdapterContext.Calibration"/> when the adapter is created.
/// </summary>
public sealed record CalibrationResult(PeftConfig Config, IReadOnlyDictionary<string, object> PerTarget);
