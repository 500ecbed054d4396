using System.Text;

namespace LongLM.Tests;

/// <summary>A fresh, uniquely named temporary folder, removed (with everything in it) on dispose.</summary>
public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "longlm-test-" + Guid.NewGuid().ToString("N"));

    /// <summary>Full path of <paramref name="name"/> inside the folder.</summary>
    public string File(string name) => System.IO.Path.Combine(Path, name);

    /// <summary>Writes <paramref name="bytes"/> to <paramref name="name"/> and returns its full path.</summary>
    public string Write(string name, byte[] bytes)
    {
        string path = File(name);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        System.IO.File.WriteAllBytes(path, bytes);
        return path;
    }

    /// <summary>Writes UTF-8 <paramref name="text"/> to <paramref name="name"/> and returns its full path.</summary>
    public string WriteText(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    public void Dispose()
    {
        try
        {
            if (Directory.Exists(Path)) Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder must not fail a test.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
