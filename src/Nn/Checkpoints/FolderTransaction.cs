using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Engine.Nn.Checkpoints;

/// <summary>
/// Replaces several files of one folder as a unit, so that a reader sees the folder's old version or its new one,
/// never a mix. Steps: (1) every file is written as a temporary in the same folder (<c>.{name}.{32 hex}.tmp</c>) and
/// flushed to disk; (2) a commit record <see cref="CommitRecordName"/> listing final name → temporary is written to
/// its own temporary, flushed and renamed into place (atomic); (3) each temporary is renamed over its file;
/// (4) the record is deleted. Before reading, loaders call <see cref="Recover"/>: a record means every temporary it
/// lists was complete, so the renames still missing are done (rolled forward) and the record deleted; without a record
/// the folder holds its old files, untouched. The next save or recovery deletes temporaries left by killed saves.
/// <para>
/// Promise: a process killed at any point (kill -9) leaves a folder that loads as the old version or the new one.
/// Not promised: a power loss. Files are flushed with <c>fsync</c>, but the folder itself is not (.NET cannot open a
/// directory to flush it without native calls, which this engine does not make), so after a power cut a rename may
/// be lost; journaling file systems (ext4 in its default mode, XFS, NTFS, APFS) order such renames after the data.
/// </para>
/// <para>
/// A lock file, <see cref="LockFileName"/>, held with an exclusive share mode for the whole save (an advisory
/// <c>flock</c> on Unix, released by the kernel when the process dies), keeps two saves to one folder from interleaving:
/// the second throws <see cref="IOException"/>. The lock file stays in the folder (deleting it would let two savers
/// lock two different files). Readers take no lock: a load that runs in another process while a save renames its
/// files (microseconds) can read one file of each version. Setting <c>DOTNET_SYSTEM_IO_DISABLEFILELOCKING</c> turns
/// the lock and the abandoned-temporary detection off.
/// </para>
/// Example: <c>using var save = FolderTransaction.Begin(folder); save.Write("config.json", s => s.Write(bytes)); save.Commit();</c>
/// </summary>
public sealed class FolderTransaction : IDisposable
{
    /// <summary>The commit record, present only between steps (2) and (4) of a save.</summary>
    public const string CommitRecordName = ".engine-save.commit";

    /// <summary>The lock file that a save holds exclusively.</summary>
    public const string LockFileName = ".engine-save.lock";

    readonly string _folder;
    readonly FileStream _lock;
    readonly List<(string Name, string Temporary, FileStream Stream)> _files = [];
    bool _recordWritten, _disposed;

    FolderTransaction(string folder, FileStream lockFile)
    {
        _folder = folder;
        _lock = lockFile;
    }

    /// <summary>
    /// Starts a save into <paramref name="folder"/> (created if missing): takes the lock, completes an interrupted
    /// save and deletes abandoned temporaries.
    /// </summary>
    /// <exception cref="IOException">Another save to the folder holds the lock.</exception>
    public static FolderTransaction Begin(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        folder = Path.GetFullPath(folder);
        Directory.CreateDirectory(folder);
        var lockFile = TryLock(folder) ?? throw new IOException(
            $"FolderTransaction: another save to '{folder}' is in progress (it holds '{LockFileName}'); wait for it to finish before saving again");
        try
        {
            RollForwardAndClean(folder);
            return new FolderTransaction(folder, lockFile);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes file <paramref name="fileName"/> (a name in the folder, not a path) to its temporary through
    /// <paramref name="write"/>, then flushes it to disk. <paramref name="write"/> must not dispose the stream.
    /// </summary>
    /// <exception cref="ArgumentException">The name is not a plain file name, is reserved, or was written already.</exception>
    public void Write(string fileName, Action<Stream> write)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_recordWritten) throw new InvalidOperationException("FolderTransaction.Write: the save is already committed");
        CheckFileName(fileName, "FolderTransaction.Write");
        if (_files.Any(f => f.Name == fileName))
            throw new ArgumentException($"FolderTransaction.Write: '{fileName}' is written twice in one save to '{_folder}'", nameof(fileName));
        string temporary = TemporaryFile.NameFor(fileName);
        var stream = TemporaryFile.Create(Path.Combine(_folder, temporary));
        _files.Add((fileName, temporary, stream));
        write(stream);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>Replaces the folder's files with those written, as one unit; the lock is released by <see cref="Dispose"/>.</summary>
    public void Commit()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_recordWritten) throw new InvalidOperationException("FolderTransaction.Commit: the save is already committed");
        var files = new JsonObject();
        foreach (var f in _files) files[f.Name] = f.Temporary;
        var record = Encoding.UTF8.GetBytes(new JsonObject { ["files"] = files }.ToJsonString());
        string recordPath = Path.Combine(_folder, CommitRecordName);
        string recordTemporary = Path.Combine(_folder, TemporaryFile.NameFor(CommitRecordName));
        using (var stream = TemporaryFile.Create(recordTemporary))
        {
            stream.Write(record);
            stream.Flush(flushToDisk: true);
            File.Move(recordTemporary, recordPath, overwrite: true);
        }
        // From here on the new version is the folder's version: a kill leaves the rest to Recover.
        _recordWritten = true;
        foreach (var f in _files)
        {
            // Renamed while still open, so no cleaner can take it for abandoned in between.
            File.Move(Path.Combine(_folder, f.Temporary), Path.Combine(_folder, f.Name), overwrite: true);
            f.Stream.Dispose();
        }
        File.Delete(recordPath);
    }

    /// <summary>Releases the lock; an uncommitted save deletes its temporaries and leaves the old files.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        foreach (var f in _files)
        {
            f.Stream.Dispose();
            // After the record is written the temporaries are the new version: Recover completes a failed commit.
            if (!_recordWritten)
                try { File.Delete(Path.Combine(_folder, f.Temporary)); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
        _lock.Dispose();
    }

    /// <summary>
    /// Makes <paramref name="folder"/> hold one whole version before it is read: completes a save that was killed
    /// after its commit record was written, and deletes temporaries of killed saves. Does nothing while another save
    /// holds the folder's lock, and nothing (cheaply) when there is nothing to do.
    /// Returns true when it completed an interrupted save.
    /// </summary>
    /// <exception cref="IOException">An interrupted save must be completed but the folder cannot be written.</exception>
    /// <exception cref="InvalidDataException">The commit record is not one this class writes.</exception>
    public static bool Recover(string folder)
    {
        if (!Directory.Exists(folder)) return false;
        folder = Path.GetFullPath(folder);
        bool record = File.Exists(Path.Combine(folder, CommitRecordName));
        if (!record && !Directory.EnumerateFiles(folder, ".*.tmp").Any(p => TemporaryFile.IsTemporary(Path.GetFileName(p), out _))) return false;
        FileStream? lockFile;
        try { lockFile = TryLock(folder); }
        catch (Exception e) when (e is UnauthorizedAccessException or IOException)
        {
            // A read-only folder: temporaries without a record cannot change what is read.
            if (!record) return false;
            throw new IOException($"FolderTransaction.Recover: a save to '{folder}' was interrupted after it committed, and the folder cannot be written to complete it", e);
        }
        if (lockFile is null) return false;
        using (lockFile) return RollForwardAndClean(folder);
    }

    /// <summary>The temporaries that a commit record in <paramref name="folder"/> still needs (empty without one).</summary>
    internal static IReadOnlySet<string> PendingTemporaries(string folder)
    {
        string recordPath = Path.Combine(folder, CommitRecordName);
        if (!File.Exists(recordPath)) return new HashSet<string>();
        try { return ReadRecord(recordPath).Select(e => e.Temporary).ToHashSet(StringComparer.Ordinal); }
        catch (Exception e) when (e is IOException or InvalidDataException) { return new HashSet<string>(); }
    }

    // Requires the lock. Returns true when a commit record was found and completed.
    static bool RollForwardAndClean(string folder)
    {
        string recordPath = Path.Combine(folder, CommitRecordName);
        bool rolledForward = false;
        if (File.Exists(recordPath))
        {
            foreach (var (name, temporary) in ReadRecord(recordPath))
            {
                // A temporary that is gone was renamed before the save stopped.
                string source = Path.Combine(folder, temporary);
                if (File.Exists(source)) File.Move(source, Path.Combine(folder, name), overwrite: true);
            }
            File.Delete(recordPath);
            rolledForward = true;
        }
        TemporaryFile.DeleteAbandoned(folder, _ => true, new HashSet<string>());
        return rolledForward;
    }

    static List<(string Name, string Temporary)> ReadRecord(string path)
    {
        try
        {
            var files = JsonNode.Parse(File.ReadAllBytes(path))?["files"] as JsonObject
                ?? throw new InvalidDataException($"FolderTransaction: commit record '{path}' has no \"files\" object");
            var entries = new List<(string, string)>();
            foreach (var (name, value) in files)
            {
                string temporary = value?.GetValue<string>() ?? "";
                // The record names files of its own folder only: anything else is not a record this class wrote.
                CheckFileName(name, $"FolderTransaction: commit record '{path}'");
                if (!TemporaryFile.IsTemporary(temporary, out var target) || target != name)
                    throw new InvalidDataException($"FolderTransaction: commit record '{path}' maps '{name}' to '{temporary}', which is not a temporary of it");
                entries.Add((name, temporary));
            }
            return entries;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException or ArgumentException)
        {
            throw new InvalidDataException($"FolderTransaction: commit record '{path}' is not valid: {e.Message}", e);
        }
    }

    static void CheckFileName(string fileName, string where)
    {
        if (string.IsNullOrEmpty(fileName) || fileName != Path.GetFileName(fileName) || fileName is "." or ".."
            || fileName.IndexOfAny(Path.GetInvalidFileNameChars()) >= 0 || fileName is CommitRecordName or LockFileName)
            throw new ArgumentException($"{where}: '{fileName}' is not a plain file name (no folders, not {CommitRecordName} or {LockFileName})", nameof(fileName));
    }

    // Null when another process (or another save in this one) holds it.
    static FileStream? TryLock(string folder)
    {
        try
        {
            return new FileStream(Path.Combine(folder, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException) when (File.Exists(Path.Combine(folder, LockFileName)))
        {
            return null;
        }
    }
}
