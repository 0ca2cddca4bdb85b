using System.Runtime.CompilerServices;
using Engine.Recording;

namespace Engine.Autograd;

/// <summary>
/// Remembers which recorded ops a backward pass has consumed without <c>retainGraph</c>, so a second backward
/// through them fails clearly, as in PyTorch, instead of silently double-counting.
/// </summary>
static class GraphRelease
{
    static readonly ConditionalWeakTable<OpRecord, object> Released = new();

    public static void Release(OpRecord record) => Released.AddOrUpdate(record, Released);

    public static bool IsReleased(OpRecord record) => Released.TryGetValue(record, out _);

    public static void ThrowIfReleased(OpRecord record)
    {
        if (Released.TryGetValue(record, out _))
            throw new InvalidOperationException(
                $"Backward: trying to go backward through {record.Name} a second time; its graph was released after the first backward. Pass retainGraph: true to the first call");
    }
}
