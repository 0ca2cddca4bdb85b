global using Engine.Nn;
global using Engine.Autograd;
global using static Engine.Tests.Shared.Approx;
