"""General conversations for the demo's replay file: everyday knowledge outside the demo bot's
topics, mixed into the demo dataset to show how replay data limits forgetting."""

GENERAL_CONVERSATIONS = [
    [
        ("user", "Why do we have leap years?"),
        (
            "assistant",
            "A year is about 365.24 days long, so an extra day every four years keeps the calendar in step with "
            "the seasons; century years skip it unless they divide by 400.",
        ),
    ],
    [
        ("user", "What is the boiling point of water at sea level?"),
        ("assistant", "100 °C (212 °F) at standard sea-level pressure; it is lower at altitude."),
    ],
    [
        ("user", "How many continents are there?"),
        (
            "assistant",
            "Seven by the usual count: Africa, Antarctica, Asia, Australia, Europe, North America and South America.",
        ),
    ],
    [
        ("user", "What does a thermostat do?"),
        (
            "assistant",
            "It measures the temperature and switches heating or cooling on and off to hold the temperature you set.",
        ),
    ],
    [
        ("user", "Can you explain what photosynthesis is in one sentence?"),
        (
            "assistant",
            "Plants use sunlight to turn water and carbon dioxide into sugar, releasing oxygen as a by-product.",
        ),
    ],
    [
        ("user", "What is the difference between weather and climate?"),
        ("assistant", "Weather is what happens in the air today; climate is the pattern of weather over decades."),
        ("user", "So a cold week does not disprove warming?"),
        (
            "assistant",
            "Right: one week is weather. Warming shows up in long-term averages, not in a single cold spell.",
        ),
    ],
    [
        ("user", "How do I convert Celsius to Fahrenheit?"),
        ("assistant", "Multiply by 9/5 and add 32: 20 °C is 20 × 1.8 + 32 = 68 °F."),
    ],
    [
        ("user", "What is a prime number?"),
        ("assistant", "A whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5, 7 and 11."),
    ],
    [
        ("user", "Why is the sea salty?"),
        (
            "assistant",
            "Rivers carry dissolved minerals from rocks into the sea; water evaporates, the salt stays behind.",
        ),
    ],
    [
        ("user", "Give me a tip for remembering names."),
        ("assistant", "Repeat the name back when you hear it and link it to something about the person."),
    ],
    [
        ("user", "为什么天空是蓝色的？"),
        ("assistant", "阳光穿过大气时，波长较短的蓝光被空气分子散射得更多，所以我们看到的天空是蓝色的。"),
    ],
    [("user", "一年有多少个节气？"), ("assistant", "二十四个节气，从立春开始，到大寒结束。")],
    [
        ("user", "怎么判断鸡蛋是否新鲜？"),
        ("assistant", "把鸡蛋放进清水里：沉底平躺的比较新鲜，竖起来或浮起来的就不新鲜了。"),
    ],
    [
        ("user", "地球绕太阳转一圈需要多久？"),
        ("assistant", "大约三百六十五又四分之一天，这就是为什么每四年有一个闰年。"),
    ],
    [
        ("user", "水的化学式是什么？"),
        ("assistant", "H₂O，一个水分子由两个氢原子和一个氧原子组成。"),
        ("user", "那冰呢？"),
        ("assistant", "冰也是 H₂O，只是分子排列成了规则的晶体结构。"),
    ],
    [("user", "怎样才能睡得更好？"), ("assistant", "每天固定时间睡觉和起床，睡前少看手机，下午以后少喝咖啡。")],
    [("user", "熊猫主要吃什么？"), ("assistant", "主要吃竹子，每天要吃十几公斤，偶尔也会吃一些水果和小动物。")],
    [("user", "长城有多长？"), ("assistant", "根据国家文物局的测量，历代长城的总长度约为两万一千公里。")],
    [("user", "什么是质数？"), ("assistant", "大于一、并且只能被一和它本身整除的整数，比如二、三、五、七。")],
    [
        ("user", "感冒和流感有什么区别？"),
        ("assistant", "流感由流感病毒引起，通常发烧更高、全身症状更重；普通感冒症状较轻，以鼻塞流涕为主。"),
    ],
]
