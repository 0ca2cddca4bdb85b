namespace Engine.Nn;

/// <summary>
/// A module that stands in for another one it wraps (an adapter layer around a <see cref="Linear"/>, say). Parents call
/// their children through the registry (<see cref="Module.Child"/>), so the wrapper runs; typed accessors that need the
/// original layer (its weight, its sizes) look through wrappers with <see cref="Module.Unwrapped{T}"/>.
/// </summary>
public interface IModuleWrapper
{
    /// <summary>The module this one wraps (itself possibly a wrapper).</summary>
    Module Wrapped { get; }
}
