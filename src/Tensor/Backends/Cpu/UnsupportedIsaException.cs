namespace Engine.Backends.Cpu;

/// <summary>ENGINE_ISA names no kernel family, or one this CPU cannot run; the message lists the allowed values.</summary>
public sealed class UnsupportedIsaException(string message) : Exception(message);
