global using Engine.Nn.Checkpoints;
global using Engine.Autograd;
global using Engine.Nn;
global using Xunit;
global using static Engine.Tests.Shared.Approx;
