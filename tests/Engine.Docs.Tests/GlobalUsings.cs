global using Engine;
global using Engine.Autograd;
global using Engine.Nn;
global using Xunit;
global using static Engine.Tests.Shared.Approx;

// Several tests capture Console output or change the current folder: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
