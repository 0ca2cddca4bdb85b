using System.Text;
using System.Text.Json.Nodes;
using Engine.Nn.Checkpoints;
using Xunit;

namespace Engine.Nn.Tests.Checkpoints;

/// <summary>
/// Folder saves as one unit: each state a killed save can leave (temporaries only; a commit record with none, some or
/// all renames done) loads as exactly one version, and the next save or load leaves no temporary. The kill test in
/// tests/Engine.Peft.Tests/SaveKillTests.cs reaches the same states with kill -9.
/// </summary>
public sealed class FolderTransactionTests : IDisposable
{
    readonly TempFolder _folder = new();
    readonly Gpt _a = Model(1, 1e-5), _b = Model(2, 2e-5);
    readonly string _checkpoint;

    public FolderTransactionTests()
    {
        _checkpoint = _folder.File("gpt");
        Gpt2Checkpoint.Save(_a, _checkpoint);
    }

    public void Dispose() => _folder.Dispose();

    static Gpt Model(ulong seed, double eps) => (Gpt)new Gpt(new GptConfig(13, 16, 8, 2, 2, MlpRatio: 2, LayerNormEps: eps), new Generator(seed)).Eval();

    string[] Listing() => Directory.GetFiles(_checkpoint).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray()!;

    static readonly string[] Saved = [FolderTransaction.LockFileName, Gpt2Checkpoint.ConfigFileName, Gpt2Checkpoint.WeightsFileName];

    static void AssertSameModel(Gpt expected, Gpt actual)
    {
        Assert.Equal(expected.Config.LayerNormEps, actual.Config.LayerNormEps);
        foreach (var ((name, e), (_, a)) in expected.NamedParameters().Zip(actual.NamedParameters()))
            Assert.True(e.ToArray<float>().AsSpan().SequenceEqual(a.ToArray<float>()), $"parameter {name} differs");
    }

    // The files version B's save writes, as temporaries of the checkpoint folder (what a save killed before its renames leaves).
    Dictionary<string, string> WriteTemporariesOfB()
    {
        var other = _folder.File("b");
        Gpt2Checkpoint.Save(_b, other);
        var temporaries = new Dictionary<string, string>();
        foreach (var name in new[] { Gpt2Checkpoint.ConfigFileName, Gpt2Checkpoint.WeightsFileName })
        {
            string temporary = TemporaryFile.NameFor(name);
            File.Copy(Path.Combine(other, name), Path.Combine(_checkpoint, temporary));
            temporaries[name] = temporary;
        }
        return temporaries;
    }

    void WriteCommitRecord(Dictionary<string, string> temporaries)
    {
        var files = new JsonObject();
        foreach (var (name, temporary) in temporaries) files[name] = temporary;
        File.WriteAllText(Path.Combine(_checkpoint, FolderTransaction.CommitRecordName), new JsonObject { ["files"] = files }.ToJsonString());
    }

    [Fact]
    public void Save_LeavesTheTwoFilesAndTheLockOnly()
    {
        Gpt2Checkpoint.Save(_b, _checkpoint);
        Assert.Equal(Saved, Listing());
        AssertSameModel(_b, Gpt2Checkpoint.Load(_checkpoint));
    }

    [Fact]
    public void KilledBeforeTheCommitRecord_LoadsTheOldVersionAndDropsTheTemporaries()
    {
        WriteTemporariesOfB();
        AssertSameModel(_a, Gpt2Checkpoint.Load(_checkpoint));
        Assert.Equal(Saved, Listing());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void KilledAfterTheCommitRecord_LoadsTheNewVersion(int renamesDone)
    {
        var temporaries = WriteTemporariesOfB();
        WriteCommitRecord(temporaries);
        foreach (var (name, temporary) in temporaries.Take(renamesDone))
            File.Move(Path.Combine(_checkpoint, temporary), Path.Combine(_checkpoint, name), overwrite: true);

        AssertSameModel(_b, Gpt2Checkpoint.Load(_checkpoint));
        Assert.Equal(Saved, Listing());
    }

    [Fact]
    public void NextSave_DeletesTemporariesOfKilledSavesButNotOtherFiles()
    {
        WriteTemporariesOfB();
        File.WriteAllText(Path.Combine(_checkpoint, "notes.tmp"), "mine");
        Gpt2Checkpoint.Save(_b, _checkpoint);
        Assert.Equal([.. Saved, "notes.tmp"], Listing());
    }

    [Fact]
    public void SafetensorsSave_DeletesItsOwnStaleTemporariesButKeepsThoseACommitRecordNeeds()
    {
        string path = _folder.File("w.safetensors"), stale = _folder.File(TemporaryFile.NameFor("w.safetensors")), other = _folder.File(TemporaryFile.NameFor("x.safetensors"));
        File.WriteAllText(stale, "left by a killed save");
        File.WriteAllText(other, "another file's");
        Safetensors.Save(path, new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(3) });
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(other));

        var temporaries = WriteTemporariesOfB();
        WriteCommitRecord(temporaries);
        Safetensors.Save(Path.Combine(_checkpoint, Gpt2Checkpoint.WeightsFileName), new Dictionary<string, Tensor> { ["w"] = Tensor.Ones(3) });
        Assert.True(File.Exists(Path.Combine(_checkpoint, temporaries[Gpt2Checkpoint.WeightsFileName])));
    }

    [Fact]
    public void SaveWhileAnotherSaveHoldsTheFolder_ThrowsAndLeavesItsFiles()
    {
        using (FolderTransaction.Begin(_checkpoint))
        {
            var error = Assert.Throws<IOException>(() => Gpt2Checkpoint.Save(_b, _checkpoint));
            Assert.Contains("another save", error.Message);
        }
        AssertSameModel(_a, Gpt2Checkpoint.Load(_checkpoint));
        Gpt2Checkpoint.Save(_b, _checkpoint);
        AssertSameModel(_b, Gpt2Checkpoint.Load(_checkpoint));
    }

    [Fact]
    public void FailedWrite_LeavesTheOldVersionAndNoTemporary()
    {
        var failing = new PretrainedFile(Gpt2Checkpoint.WeightsFileName, stream =>
        {
            stream.Write(new byte[1000]);
            throw new IOException("No space left on device (simulated)");
        });
        Assert.Throws<IOException>(() => PretrainedFolder.Save(_checkpoint, PretrainedFile.Json(Gpt2Checkpoint.ConfigFileName, new JsonObject()), failing));
        Assert.Equal(Saved, Listing());
        AssertSameModel(_a, Gpt2Checkpoint.Load(_checkpoint));
    }

    [Fact]
    public void SaveOverFilesThatAreOpen_ReplacesThemAndTheOpenHandleKeepsTheOldBytes()
    {
        var loaded = Gpt2Checkpoint.Load(_checkpoint);
        using var open = Safetensors.Open(Path.Combine(_checkpoint, Gpt2Checkpoint.WeightsFileName));
        Gpt2Checkpoint.Save(_b, _checkpoint);
        Gpt2Checkpoint.Save(loaded, _checkpoint);
        Gpt2Checkpoint.Save(_b, _checkpoint);
        Assert.Equal(_a.NamedParameters().First(p => p.Name == "tok.weight").Parameter.ToArray<float>(), open.Read("wte.weight").ToArray<float>());
        AssertSameModel(_b, Gpt2Checkpoint.Load(_checkpoint));
    }

    [Theory]
    [InlineData("""{"files":{"../config.json":".config.json.0123456789abcdef0123456789abcdef.tmp"}}""")]
    [InlineData("""{"files":{"config.json":"../elsewhere"}}""")]
    [InlineData("""{"files":{"config.json":".model.safetensors.0123456789abcdef0123456789abcdef.tmp"}}""")]
    [InlineData("""{"files":{"config.json":3}}""")]
    [InlineData("not json")]
    public void CommitRecordNotWrittenByASave_IsRejectedByName(string record)
    {
        File.WriteAllBytes(Path.Combine(_checkpoint, FolderTransaction.CommitRecordName), Encoding.UTF8.GetBytes(record));
        var error = Assert.Throws<InvalidDataException>(() => Gpt2Checkpoint.Load(_checkpoint));
        Assert.Contains(FolderTransaction.CommitRecordName, error.Message);
    }

    [Theory]
    [InlineData("../x")]
    [InlineData(FolderTransaction.LockFileName)]
    [InlineData("")]
    public void FileNamesOutsideTheFolderOrReserved_AreRejected(string name)
    {
        using var save = FolderTransaction.Begin(_checkpoint);
        Assert.Throws<ArgumentException>(() => save.Write(name, _ => { }));
    }
}
