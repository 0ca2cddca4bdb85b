using System.CommandLine;
using Engine.Cli;

var root = new RootCommand("engine: a pure-managed C# tensor engine with autograd");
root.Subcommands.Add(TrainCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
return root.Parse(args).Invoke();
