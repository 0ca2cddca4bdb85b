namespace Engine.Peft.Elementwise;

/// <summary>
/// One GLoRA path (PEFT's <c>GloraLoraPath</c>, <c>GloraVectorPath</c>, <c>GloraScalarPath</c>, <c>GloraEmptyPath</c>):
/// "lora" holds <c>Xd</c> [rows, r] and <c>Xu</c> [r, cols] and stands for Xd Xu; "vector" holds <c>X</c> (a column
/// [rows, 1], or [rows]); "constant" holds <c>X</c> [1]; "none" holds a frozen <c>zeros</c> buffer of the full shape,
/// which PEFT saves too.
/// </summary>
public sealed class GloraPath : Module
{
    readonly string _kind;

    GloraPath(string kind) => _kind = kind;

    /// <summary>The tensors of a path of <paramref name="kind"/> for a value of <paramref name="shape"/> ([rows, cols] or [rows]): (member, shape, trainable).</summary>
    public static IEnumerable<(string Member, int[] Shape, bool Trainable)> Plan(string kind, int[] shape, int r) => kind switch
    {
        "lora" => [("Xd", [shape[0], r], true), ("Xu", [r, shape[1]], true)],
        "vector" => [("X", shape.Length == 2 ? [shape[0], 1] : [shape[0]], true)],
        "constant" => [("X", [1], true)],
        _ => [("zeros", shape, false)],
    };

    /// <summary>
    /// A path of <paramref name="kind"/> with PEFT's init: Xu Kaiming-uniform (a = sqrt 5) and everything else 0;
    /// with <paramref name="random"/> (init_weights = false) Xd and vectors Kaiming-uniform, constants N(0, 0.02²).
    /// </summary>
    public static GloraPath Create(string kind, int[] shape, int r, bool random, DType dtype, Generator generator)
    {
        var path = new GloraPath(kind);
        Tensor Kaiming(int[] s) => Init.KaimingUniform(Tensor.Zeros(s, dtype), Math.Sqrt(5), generator: generator);
        foreach (var (member, s, trainable) in Plan(kind, shape, r))
        {
            if (!trainable) { path.RegisterBuffer(member, Tensor.Zeros(s, dtype)); continue; }
            var value = (kind, member) switch
            {
                ("lora", "Xu") => Kaiming(s),
                _ when !random => Tensor.Zeros(s, dtype),
                ("constant", _) => Tensor.Randn(s, 0, 0.02, dtype, generator),
                // PEFT gives a 1-D vector Kaiming's fan of a row [1, n].
                ("vector", _) when s.Length == 1 => Kaiming([1, s[0]]).Reshape(s[0]),
                _ => Kaiming(s),
            };
            path.RegisterParameter(member, value);
        }
        return path;
    }

    /// <summary>The path's value: Xd Xu, X, or the zeros.</summary>
    public Tensor Value()
    {
        var tensors = StateDict();
        return _kind == "lora" ? tensors["Xd"] % tensors["Xu"] : tensors[_kind == "none" ? "zeros" : "X"];
    }
}
