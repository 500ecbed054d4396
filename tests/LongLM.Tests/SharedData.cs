namespace LongLM.Tests;

/// <summary>
/// The read-only ../shared folder (models, tokenizers, corpora) beside the repository, or LONGLM_SHARED.
/// </summary>
public static class SharedData
{
    private static readonly Lazy<string> s_root = new(Find);

    /// <summary>Absolute path of the shared folder.</summary>
    public static string Root => s_root.Value;

    private static string Find()
    {
        string? fromEnvironment = Environment.GetEnvironmentVariable("LONGLM_SHARED");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Path.GetFullPath(fromEnvironment);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Kernels.sln")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared"));
        throw new DirectoryNotFoundException("cannot find Kernels.sln above the test binaries; set LONGLM_SHARED");
    }
}
