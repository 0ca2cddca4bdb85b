using System.Text.Json.Nodes;
using Engine.Peft.Spectral;
using Xunit;

namespace Engine.Peft.Tests.Spectral;

/// <summary>The four configs write PEFT's field names and defaults, and read them back.</summary>
public class SpectralConfigTests
{
    [Theory]
    [InlineData("FOURIERFT", "n_frequency=1000 scaling=150 random_loc_seed=777 init_weights=false fan_in_fan_out=false bias=\"none\" n_frequency_pattern={}")]
    [InlineData("WAVEFT", "n_frequency=2592 scaling=25 wavelet_family=\"db1\" use_idwt=true random_loc_seed=777 proportional_parameters=false init_weights=true n_frequency_pattern={}")]
    [InlineData("C3A", "block_size=256 block_size_pattern={} init_weights=\"xavier_uniform\" bias=\"none\"")]
    [InlineData("SHIRA", "r=32 mask_type=\"random\" random_seed=null fan_in_fan_out=false init_weights=true")]
    public void Defaults_AreWrittenWithPeftsNames_AndReadBack(string peftType, string fields)
    {
        var config = PeftConfig.FromJson(JsonNode.Parse($"{{\"peft_type\": \"{peftType}\"}}")!.AsObject());
        var json = config.ToJson();
        foreach (var field in fields.Split(' '))
        {
            var (name, value) = (field[..field.IndexOf('=')], field[(field.IndexOf('=') + 1)..]);
            Assert.True(json.ContainsKey(name), $"{peftType}: no '{name}' in {json.ToJsonString()}");
            var written = json[name]?.ToJsonString() ?? "null";
            Assert.True(written == value || double.TryParse(written, out var a) && double.TryParse(value, out var b) && a == b, $"{peftType}: {name} = {written}, expected {value}");
        }
        Assert.Equal(json.ToJsonString(), PeftConfig.FromJson(json).ToJson().ToJsonString());
    }
}
