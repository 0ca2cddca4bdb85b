// A guided look inside autograd: the recorded ops, the graph as Graphviz DOT and Mermaid, and anomaly mode finding
// the op where a NaN gradient starts.
//   dotnet run -c Release --project samples/InspectInternals [-- graph.dot]
using Samples.InspectInternals;

var findings = InternalsTour.Run(Console.Out);
if (args.Length > 0)
{
    File.WriteAllText(args[0], findings.Dot);
    Console.WriteLine($"wrote {args[0]} (render it with: dot -Tsvg {args[0]} -o graph.svg)");
}
