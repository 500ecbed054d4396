namespace LongLM.Runtime;

/// <summary>Base of every error LongLM reports about its input: a model folder, a prompt, an option.</summary>
public class LongLMException : Exception
{
    /// <summary>Creates an error about <paramref name="filePath"/> (null when no file is involved).</summary>
    public LongLMException(string message, string? filePath = null, Exception? inner = null)
        : base(message, inner) => FilePath = filePath;

    /// <summary>The file the problem is in, when there is one.</summary>
    public string? FilePath { get; }
}
