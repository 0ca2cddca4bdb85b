global using static Engine.Tests.Shared.Approx;
