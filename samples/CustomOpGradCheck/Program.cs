// A custom op with a hand-written backward, held by a property-based gradient test (FsCheck + GradCheck).
//   dotnet run -c Release --project samples/CustomOpGradCheck
using Engine;
using Engine.Autograd;
using Samples.CustomOpGradCheck;

// A unit test at one shape cannot tell the two versions apart...
var a = Tensor.Randn([2, 3], dtype: DType.Float64, generator: new Generator(1));
var b = Tensor.Randn([2, 3], dtype: DType.Float64, generator: new Generator(2));
foreach (var op in new LogAddExp[] { new(), new LogAddExpWithoutBroadcastReduction() })
    Console.WriteLine($"{op.GetType().Name} at [2,3] and [2,3]: {GradCheck.Check(x => op.Apply(x[0], x[1]), [a, b]).Message}");

// ...the property over every broadcastable pair of shapes and memory layouts can.
Console.WriteLine();
Console.WriteLine("LogAddExp, 100 random cases, first and second order:");
Console.WriteLine(GradientProperty.Check((x, y) => new LogAddExp().Apply(x, y), secondOrder: true).Report);
Console.WriteLine();
Console.WriteLine("LogAddExpWithoutBroadcastReduction, 100 random cases:");
Console.WriteLine(GradientProperty.Check((x, y) => new LogAddExpWithoutBroadcastReduction().Apply(x, y)).Report);
