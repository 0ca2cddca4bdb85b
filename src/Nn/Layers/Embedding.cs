
namespace Engine.Nn;

/// <summary>A table of learned vectors looked up by integer id (torch.nn.Embedding; initialised N(0, 1)).</summary>
public sealed class Embedding : Module
{
    public Embedding(int count, int dim, Generator? generator = null)
    {
        Init.Normal(RegisterParameter("weight", Tensor.Zeros(count, dim)), 0, 1, generator);
    }

    /// <summary>[count, dim].</summary>
    public Tensor Weight => GetParameter("weight");

    /// <summary>Ids of any shape S give vectors [..S, dim].</summary>
    public override Tensor Forward(Tensor ids) => Weight.Embedding(ids);
}
