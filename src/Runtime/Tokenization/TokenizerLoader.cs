namespace LongLM.Runtime.Tokenization;

/// <summary>Chooses and reads the tokenizer files of a model folder (see <see cref="ModelTokenizer.Load"/>).</summary>
internal static class TokenizerLoader
{
    public const string TokenizerJsonFile = "tokenizer.json";
    public const string SentencePieceFile = "tokenizer.model";
    public const string ConfigFile = "tokenizer_config.json";

    public static ModelTokenizer Load(string modelDirectory)
    {
        ArgumentNullException.ThrowIfNull(modelDirectory);
        if (!Directory.Exists(modelDirectory))
        {
            throw new TokenizerException($"Model folder '{modelDirectory}' does not exist.", modelDirectory);
        }

        string configPath = Path.Combine(modelDirectory, ConfigFile);
        var config = File.Exists(configPath) ? TokenizerConfig.Read(configPath) : null;

        string jsonPath = Path.Combine(modelDirectory, TokenizerJsonFile);
        string modelPath = Path.Combine(modelDirectory, SentencePieceFile);
        if (File.Exists(jsonPath))
        {
            var json = TokenizerJson.Read(jsonPath);
            if (json.Unsupported is null)
            {
                return ByteLevelBpeModelTokenizer.Create(json, config);
            }

            // A well-formed tokenizer.json we cannot run (a SentencePiece conversion, Unigram ...) usually
            // ships with the tokenizer.model it was converted from: that one describes the same tokenizer.
            if (File.Exists(modelPath))
            {
                return SentencePieceModelTokenizer.Load(modelPath, config);
            }

            throw new TokenizerException($"'{jsonPath}' is not supported: {json.Unsupported}", jsonPath);
        }

        if (File.Exists(modelPath))
        {
            return SentencePieceModelTokenizer.Load(modelPath, config);
        }

        throw new TokenizerException(
            $"No tokenizer in '{modelDirectory}': expected {TokenizerJsonFile} (Hugging Face) or {SentencePieceFile} (SentencePiece).",
            modelDirectory);
    }

    /// <summary>
    /// Reads a whole JSON tokenizer file and checks that it is UTF-8: System.Text.Json checks string contents only when
    /// one is read, and then throws InvalidOperationException.
    /// </summary>
    public static byte[] ReadJsonBytes(string path)
    {
        byte[] data = ReadAllBytes(path);
        if (!System.Text.Unicode.Utf8.IsValid(data))
        {
            throw new TokenizerException($"'{path}' is not valid UTF-8.", path);
        }

        return data;
    }

    /// <summary>Reads a whole tokenizer file, turning I/O failures into <see cref="TokenizerException"/>.</summary>
    public static byte[] ReadAllBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new TokenizerException($"'{path}' could not be read: {e.Message}", path, e);
        }
    }
}
