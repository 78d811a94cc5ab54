"""A small built-in corpus of mixed English and Chinese text for the tiny model's tokenizer.

It only has to give a byte-level BPE some realistic merges (common English words, frequent
Chinese characters, chat-like phrasing); the model trained on top of it is for tests and demos.
"""

ENGLISH = """
Hello! How can I help you today? I am an assistant, and I am happy to answer your questions.
Thank you for asking. Here is a short answer, followed by a longer explanation if you need it.
Could you tell me a little more about what you are trying to do? That would help me give a better answer.
I'm sorry, but I can't help with that request. It could hurt someone, and that is not something I will do.
If you are feeling unsafe, please contact someone you trust or the local emergency services right away.
The weather today is sunny with a light breeze, and the temperature should reach about twenty degrees.
To make a simple tomato soup, cook onions and garlic in olive oil, add chopped tomatoes and water, then simmer.
Season the soup with salt and pepper, blend it until smooth, and serve it warm with a slice of bread.
A good way to learn a new language is to practise a little every day, read simple stories and speak out loud.
Python is a programming language that is easy to read. A function is defined with the keyword def.
To read a file in Python, open it with a with statement so that it is closed even when an error happens.
The train leaves the station at nine in the morning and arrives in the city a little after noon.
Remember to drink enough water, sleep well, and take short walks when you work at a desk for a long time.
The history of the city goes back more than a thousand years, and its old town is full of narrow streets.
Music can change the mood of a room. Many people listen to calm piano music when they want to focus.
My favourite film is a quiet story about a family that runs a small restaurant by the sea.
The director of the film also wrote the screenplay, and the actors spent months preparing for their roles.
Could you recommend a book for a long flight? I enjoy mysteries, history and stories about travel.
Why is the sky blue? Sunlight is scattered by the air, and blue light is scattered more than red light.
Plants need light, water and air to grow. They turn sunlight into energy through photosynthesis.
What is the capital of France? The capital of France is Paris, a city known for art, food and fashion.
How do I reset my password? Open the settings page, choose account, and follow the steps under security.
That is a great question. The short answer is yes, but there are a few details worth knowing first.
Let me think about this step by step. First we list what we know, then we check each assumption.
The meeting has been moved to Thursday afternoon. Please bring the report and your notes from last week.
Exercise regularly, eat vegetables and fruit, and try to keep a regular schedule for meals and sleep.
Is it safe to eat raw eggs? There is a small risk of illness, so many people prefer them cooked.
I don't know the answer to that, but I can tell you where you might find reliable information.
People often ask how to save money. Start by writing down what you spend for one month.
Neural networks learn from examples. Training adjusts the weights so that the loss becomes smaller.
A language model predicts the next token from the tokens before it, one step at a time.
Human: Can you help me write a polite email to my landlord about a broken heater?
Assistant: Of course. Here is a short and polite email you can adapt to your situation.
Human: What should I do if my neighbour plays loud music late at night?
Assistant: You could start by talking to them calmly, and if that does not work, contact the building manager.
"""

CHINESE = """
你好！请问有什么可以帮你的吗？我是一个智能助手，很高兴回答你的问题。
谢谢你的提问。下面先给出简短的回答，如果需要的话再详细解释。
今天天气晴朗，微风，气温大约二十度，很适合出去散步。
我最喜欢的电影是一部讲述海边小餐馆一家人的温情故事。
这部电影的导演同时也是编剧，演员们为角色准备了好几个月。
你看过这部电影吗？我觉得它的音乐特别好听，尤其是片尾曲。
这首歌是由一位著名的歌手演唱的，发行以后很快就非常流行。
他的专辑里有很多经典的歌曲，很多人到现在还在听。
周杰伦是一位很有影响力的音乐人，他的歌曲风格很独特。
这部电影讲的是一个年轻人追求梦想的故事，票房很高，口碑也不错。
主演是谁？他还演过哪些电影？我想多了解一些他的作品。
学习一门新的语言，最好的方法是每天坚持练习，多读多说。
做番茄汤很简单：先用橄榄油炒洋葱和大蒜，再加入番茄和水，小火慢炖。
火车早上九点从车站出发，中午过后不久到达城市。
请多喝水，保证睡眠，长时间坐着工作的时候要经常起来走一走。
这座城市有一千多年的历史，老城区里有很多狭窄的小巷。
音乐可以改变一个房间的气氛，很多人在需要专心的时候听钢琴曲。
为什么天空是蓝色的？因为空气会散射阳光，而蓝光比红光散射得更多。
法国的首都是哪里？法国的首都是巴黎，以艺术、美食和时尚闻名。
对不起，这个请求我不能帮忙，因为它可能会伤害到别人。
如果你感到不安全，请立即联系你信任的人或者当地的紧急服务。
这是一个好问题。简单来说是可以的，但是有几点需要先了解。
让我们一步一步地思考：先列出已知的信息，再逐一检查每个假设。
神经网络从例子中学习，训练会调整权重，让损失变得更小。
语言模型根据前面的词预测下一个词，一次一步。
这首歌的作词人是谁？作曲又是谁？这首歌收录在哪张专辑里？
这部电影是哪一年上映的？它获得过什么奖项吗？
我很喜欢这个演员，他的表演非常自然，很有感染力。
你喜欢什么类型的音乐？流行、摇滚还是古典音乐？
导演的上一部作品也很受欢迎，讲的是一个关于友情的故事。
"""

CORPUS = [line.strip() for line in (ENGLISH + CHINESE).splitlines() if line.strip()]
