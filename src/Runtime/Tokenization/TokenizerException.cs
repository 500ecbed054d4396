namespace LongLM.Runtime.Tokenization;

/// <summary>
/// A tokenizer file that is missing, does not parse, or describes something LongLM does not support.
/// The message names the file and the problem.
/// </summary>
public sealed class TokenizerException : LongLMException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong, naming the file.</param>
    /// <param name="filePath">The tokenizer file, or the model folder when no tokenizer file was found.</param>
    /// <param name="innerException">The parser error behind it, if any.</param>
    public TokenizerException(string message, string? filePath, Exception? innerException = null)
        : base(message, filePath, innerException)
    {
    }
}
