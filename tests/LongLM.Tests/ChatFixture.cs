namespace LongLM.Tests;

/// <summary>
/// stories260K as a chat model: its weights and tokenizer.model with a tokenizer_config.json carrying TinyLlama-Chat's
/// real template (data/chat/README.md).
/// </summary>
public static class ChatFixture
{
    private static readonly Lazy<string> s_folder = new(Create);

    /// <summary>The folder (created once per test run under the temp directory).</summary>
    public static string Folder => s_folder.Value;

    /// <summary>The ChatML template file (an override whose markers are plain text for stories260K).</summary>
    public static string ChatMlPath => Path.Combine(AppContext.BaseDirectory, "data", "chat", "chatml.jinja");

    private static string Create()
    {
        string dir = Path.Combine(Path.GetTempPath(), "longlm-chat-fixture-" + Environment.ProcessId);
        Directory.CreateDirectory(dir);
        foreach (var name in new[] { "config.json", "model.safetensors", "tokenizer.model" })
            File.Copy(Path.Combine(ModelFolderCopy.Stories260K, name), Path.Combine(dir, name), overwrite: true);
        File.Copy(Path.Combine(AppContext.BaseDirectory, "data", "chat", "tinyllama-chat_tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        return dir;
    }
}
