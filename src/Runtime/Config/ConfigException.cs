namespace LongLM.Runtime.Config;

/// <summary>config.json (or generation_config.json) is missing a needed field or holds a bad value.</summary>
public sealed class ConfigException(string filePath, string problem, Exception? inner = null)
    : LongLMException($"{Path.GetFileName(filePath)}: {problem}", filePath, inner);
