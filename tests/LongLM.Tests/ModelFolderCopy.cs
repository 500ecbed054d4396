namespace LongLM.Tests;

/// <summary>Writable copies of shared model folders, to damage one file at a time.</summary>
public static class ModelFolderCopy
{
    public static string Stories260K => Path.Combine(SharedData.Root, "models", "stories260K");

    /// <summary>Copies stories260K into <paramref name="dir"/> and returns the folder.</summary>
    public static string Stories(TempDirectory dir)
    {
        foreach (var f in Directory.GetFiles(Stories260K)) File.Copy(f, dir.File(Path.GetFileName(f)), overwrite: true);
        return dir.Path;
    }

    /// <summary>Copies stories260K and rewrites its config.json text with <paramref name="edit"/>.</summary>
    public static string StoriesWithConfig(TempDirectory dir, Func<string, string> edit)
    {
        Stories(dir);
        string path = dir.File("config.json");
        string before = File.ReadAllText(path), after = edit(before);
        Assert.NotEqual(before, after); // the edit must have found its text
        File.WriteAllText(path, after);
        return dir.Path;
    }
}
