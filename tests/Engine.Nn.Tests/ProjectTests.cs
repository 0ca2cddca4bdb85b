namespace Engine.Nn.Tests; public class Placeholder { [Xunit.Fact] public void ProjectBuilds() => Xunit.Assert.NotNull(typeof(Engine.Tensor)); }
