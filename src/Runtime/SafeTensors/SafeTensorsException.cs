namespace LongLM.Runtime.SafeTensors;

/// <summary>A safetensors file (or shard index) is malformed; the message names the file and the problem.</summary>
public sealed class SafeTensorsException(string filePath, string problem, Exception? inner = null)
    : LongLMException($"{Path.GetFileName(filePath)}: {problem}", filePath, inner);
