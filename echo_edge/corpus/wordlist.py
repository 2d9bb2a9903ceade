"""An embedded English word list for the text generator, grouped by part of speech and role.

Written for echo-edge (no external list): a few thousand common words, enough that the
synthetic corpus covers a broad vocabulary. Each group is a whitespace-separated string;
`words(name)` returns it as a tuple. Nouns are singular and verbs are base forms: textgen
inflects them (irregular forms are listed here).
"""

from __future__ import annotations

from functools import cache

PEOPLE = """
teacher doctor nurse farmer baker driver pilot soldier student artist writer singer dancer
lawyer judge engineer scientist fisherman carpenter plumber painter poet actor chef cook
waiter manager clerk banker cashier barber tailor butcher mechanic electrician gardener
builder architect dentist surgeon professor tutor coach player captain sailor officer
detective guard ranger librarian journalist reporter editor photographer designer
programmer analyst accountant secretary assistant neighbor friend stranger visitor guest
host child baby boy girl man woman mother father sister brother daughter son aunt uncle
cousin nephew niece grandmother grandfather husband wife partner colleague boss customer
client patient passenger traveler tourist king queen prince princess president mayor
governor senator minister priest monk scholar inventor explorer hunter shepherd miner
merchant trader seller buyer owner tenant landlord pianist violinist drummer guitarist
composer conductor novelist historian philosopher athlete runner swimmer climber cyclist
boxer referee umpire volunteer thief prisoner witness hero villain giant wizard knight
teenager toddler adult orphan twin bride groom pupil expert beginner champion rival
spy sheriff firefighter paramedic pharmacist vet janitor courier mailman plumber tutor
florist jeweler potter sculptor magician clown juggler acrobat poet lifeguard diver
astronaut sergeant general admiral emperor duke lady gentleman citizen resident farmer
"""

ANIMALS = """
dog cat horse cow pig sheep goat chicken duck goose turkey rabbit mouse rat hamster lion
tiger bear wolf fox deer elephant giraffe zebra monkey gorilla kangaroo koala panda camel
donkey mule bull ox buffalo moose squirrel beaver otter seal whale dolphin shark octopus
crab lobster fish salmon trout eagle hawk owl parrot crow raven sparrow pigeon swan
penguin ostrich peacock flamingo frog toad snake lizard turtle tortoise crocodile
alligator bee wasp ant spider butterfly moth beetle mosquito worm snail bat hedgehog
badger raccoon leopard cheetah jaguar rhino hippo bison llama puppy kitten pony lamb
calf foal falcon heron pelican seagull robin woodpecker canary goldfish jellyfish
starfish hyena walrus mole chipmunk weasel ferret lynx panther coyote cricket
grasshopper dragonfly ladybug caterpillar scorpion oyster clam squid tuna puffin
"""

OBJECTS = """
table chair sofa couch bed lamp clock mirror window door wall floor ceiling roof shelf
drawer cupboard closet carpet rug curtain pillow blanket sheet towel bucket basket box
bag bottle jar cup mug glass plate bowl spoon fork knife pan pot kettle oven stove fridge
freezer sink toaster blender microwave dishwasher heater fan radio television phone
computer laptop tablet keyboard screen printer camera speaker headphone charger cable
battery remote candle vase frame painting picture poster calendar map globe book notebook
magazine newspaper letter envelope stamp card ticket receipt wallet purse key lock coin
pen pencil crayon marker eraser ruler stapler tape brush comb toothbrush razor umbrella
backpack suitcase trunk shirt coat jacket sweater dress skirt hat cap scarf glove sock
shoe boot sandal belt tie button pocket collar sleeve uniform apron ring necklace
bracelet earring watch hammer nail screw saw drill wrench ladder rope chain wire hose
shovel rake axe needle bolt car bus train truck van bicycle bike motorcycle scooter boat
ship yacht canoe plane helicopter rocket tractor taxi tram wagon cart ball doll kite
puzzle toy drum guitar piano violin flute trumpet bell whistle flag balloon gift package
parcel sign label badge medal trophy crown sword shield arrow bow tent flashlight compass
telescope microscope magnet engine wheel tire fence gate bench statue fountain helmet
mask costume wig jewel diamond pearl crystal feather shell pebble brick tile plank log
barrel crate sack pouch tray lid cork straw napkin tablecloth cushion mattress hanger
hook peg pin thread zipper lantern torch match lighter stool desk cabinet wardrobe
bookcase chandelier radiator thermostat doorbell mailbox wheelbarrow sled skateboard
surfboard racket bat glove net goal whistle dice chessboard deck album guitar banjo harp
cello saxophone trombone tuba clarinet harmonica microphone amplifier projector
calculator typewriter notebook folder binder clipboard briefcase stapler envelope sticker
"""

FOOD = """
apple banana orange lemon lime grape cherry peach pear plum mango pineapple melon
watermelon strawberry blueberry raspberry coconut avocado tomato potato carrot onion
pepper cucumber cabbage pumpkin mushroom bean pea sandwich burger pizza noodle salad egg
sausage steak cake cookie biscuit muffin pie donut pancake waffle pretzel cracker nut
almond peanut walnut taco burrito omelet dumpling bagel croissant cupcake lollipop
peppercorn radish turnip beet zucchini eggplant apricot kiwi papaya fig date olive
chestnut hazelnut pistachio cashew meatball hotdog sundae brownie scone tart crepe
"""

MASS_NOUNS = """
rice bread butter milk cream cheese sugar salt flour honey jam coffee tea juice water soda
wine oil soup cereal oatmeal popcorn chocolate yogurt bacon ham beef pork lamb garlic
corn pasta spinach lettuce broccoli cinnamon vanilla ginger mustard ketchup vinegar
sauce lemonade broth gravy toast granola salmon tuna shrimp chicken fruit meat
furniture equipment luggage money paper wood metal plastic glass cotton wool silk leather
sand gold silver iron copper steel concrete gravel snow ice fog smoke traffic music
advice information news homework housework research evidence knowledge electricity
weather sunshine rain thunder lightning mud dust grass clay
"""

PLACES = """
kitchen bedroom bathroom garage garden basement attic hallway office library school
college university hospital clinic pharmacy bank bakery market supermarket store shop
mall restaurant cafe hotel museum theater cinema gallery church temple station airport
harbor port park playground stadium gym pool beach lake river forest mountain valley
desert island village town city farm factory warehouse prison castle palace cottage
cabin apartment house tower bridge tunnel street road avenue highway square corner zoo
aquarium studio laboratory workshop barn stable cellar balcony porch courtyard
greenhouse lobby elevator staircase classroom cafeteria auditorium
campsite lighthouse marina pier dock canal reservoir orchard vineyard meadow ranch
bakery bookstore boutique salon laundromat embassy courthouse cathedral chapel mosque
monastery fortress harbor lagoon canyon plateau swamp jungle prairie glacier cliff cave
"""

NATURE = """
sun moon star sky cloud wind storm fire stone rock soil flower tree leaf branch root seed
bush rose tulip daisy lily oak pine maple willow birch cedar palm wave ocean sea shore
hill field pond stream waterfall volcano rainbow sunset sunrise dawn dusk planet comet
galaxy horizon breeze puddle blossom petal thorn vine moss fern acorn boulder crater
iceberg tide current whirlpool avalanche earthquake hurricane tornado blizzard drought
flood harvest season island peninsula continent
"""

ABSTRACT = """
idea plan story reason question answer problem solution decision choice chance risk
mistake lesson rule law right duty promise secret dream memory thought feeling opinion
belief hope fear anger joy sorrow pride shame courage patience truth lie fact theory
method system process result effect cause purpose goal target task job career project
report meeting interview conversation argument discussion debate speech lecture joke
song poem novel movie film show concert festival party wedding funeral holiday vacation
journey trip adventure accident disaster crisis war peace battle victory defeat game
match race contest prize reward price cost budget profit loss debt loan tax salary income
economy business company industry trade deal contract agreement policy strategy campaign
election vote government nation country state society community culture history
tradition religion language science art math chemistry physics biology geography
medicine health disease illness injury pain fever cough headache diet exercise habit
routine schedule appointment deadline weekend morning afternoon evening night week month
year century moment minute hour second future past message email call signal network
website password account profile video photo image sound noise voice silence light
shadow color shape size weight height distance speed temperature pressure energy power
force gravity attention advantage agreement ambition anniversary apology approach
assignment atmosphere attitude audience balance behavior birthday blessing border
boundary challenge character charity comfort comment competition complaint concept
condition confidence conflict connection consequence courage curiosity custom danger
debate definition delight demand democracy desire detail difference dignity direction
discovery distance effort emergency emotion encounter enemy enthusiasm environment
event evidence example excitement excuse experience experiment explanation failure
faith fashion favor freedom friendship fortune function generation gesture glory
gratitude guidance harmony holiday honor humor identity imagination impact impression
improvement influence injury insight instinct instruction intention interest invention
investment issue journey judgment justice kindness label landscape laughter leadership
legend liberty limit logic luck loyalty majority miracle mission mood mystery nature
necessity neighborhood opportunity origin outcome patience pattern performance
permission personality perspective phrase pleasure poetry population portrait
possibility poverty practice prediction preference presence pressure priority privacy
profession progress proposal protest quality quantity reality recipe recovery reputation
request respect response responsibility revolution rhythm romance safety sample scandal
scene sense sentence service silence skill solution spirit standard statement strength
struggle success suggestion summary surprise survey symbol sympathy talent technique
technology temper tension theme therapy threat tone topic tragedy transition treasure
trend trust understanding union universe urgency value version vision warning wealth
welcome wisdom wonder youth
"""

BODY = """
head face eye ear nose mouth lip tooth tongue neck shoulder arm elbow wrist hand finger
thumb chest back stomach hip leg knee ankle foot toe heart brain lung bone skin hair
beard eyebrow forehead cheek chin jaw throat spine rib muscle palm fist
"""

ADJECTIVES = """
good bad big small large little tiny huge long short tall high low wide narrow thick thin
heavy light fast slow quick early late new old young ancient modern fresh stale hot cold
warm cool wet dry clean dirty soft hard smooth rough sharp dull bright dark loud quiet
noisy silent rich poor cheap expensive easy difficult simple complex strong weak healthy
sick happy sad angry calm brave afraid proud shy kind cruel gentle polite rude honest
clever smart wise foolish silly funny serious strange normal usual rare common famous
popular busy lazy tired hungry thirsty full empty open closed safe dangerous careful
careless beautiful pretty ugly handsome lovely nice pleasant terrible awful wonderful
excellent perfect great fine tidy messy neat sweet sour bitter salty spicy delicious
tasty crisp crunchy juicy ripe raw frozen golden wooden plastic woolen leather red blue
green yellow purple pink brown black white gray violet crimson scarlet turquoise beige
round square flat deep shallow steep straight curved crooked broken whole lonely
friendly hostile generous greedy jealous curious eager anxious nervous relaxed excited
bored boring interesting amazing surprising shocking exciting important necessary
possible impossible likely certain sure clear obvious hidden secret public private local
foreign national global natural artificial real fake true false correct wrong main major
minor central northern southern eastern western final recent ordinary special unique
similar different equal fair unfair free crowded distant nearby remote urban rural
tropical sunny rainy cloudy windy stormy foggy snowy icy humid dusty muddy sandy rocky
grassy shiny fancy plain elegant gorgeous cozy comfortable awkward fragile sturdy solid
hollow tight loose fierce wild tame magic mysterious brilliant tender harsh vivid pale
faint bold modest humble ambitious stubborn patient grateful loyal sincere cheerful
gloomy grumpy sleepy awake alive precious valuable useful useless helpful harmful
efficient gigantic miniature enormous massive slim slender plump skinny fluffy furry
hairy bald wrinkled spotless filthy sticky slippery greasy dusty rusty shabby glossy
dazzling sparkling gleaming glowing dim murky cloudy transparent colorful striped
spotted tiny ancient youthful elderly mature childish clumsy graceful nimble sluggish
energetic lively dull tedious thrilling peaceful restless chaotic orderly organized
modern classic vintage trendy stylish formal casual rough delicate fragrant smelly
rotten moldy toasted roasted grilled boiled baked fried steamed spicy bland creamy
buttery cheesy lemony minty smoky earthy fruity nutty sugary savory hearty
"""

ADVERBS = """
quickly slowly carefully quietly loudly softly gently happily sadly angrily calmly easily
suddenly finally recently usually often sometimes rarely always already soon later early
proudly bravely politely rudely kindly warmly eagerly nervously patiently silently
secretly openly boldly gladly firmly tightly loosely neatly roughly smoothly brightly
badly clumsily gracefully lazily busily cheerfully honestly barely nearly mostly
completely totally entirely simply truly deeply hardly quite rather almost together
alone abroad upstairs downstairs outside inside everywhere somewhere nowhere anyway
"""

SENTENCE_ADVERBS = """
luckily unfortunately fortunately hopefully surprisingly apparently clearly obviously
naturally frankly honestly certainly probably perhaps maybe meanwhile eventually
suddenly strangely thankfully sadly ironically actually basically generally usually
"""

VERBS_THING = """
open close watch wash clean paint fix repair cook bake carry move push pull lift kick
order deliver collect count check compare describe explain discuss mention notice
remember finish start borrow return share prepare test measure weigh fill empty pack
unpack load unload polish mend sharpen fold press heat cool boil fry roast taste smell
touch hold examine study design create invent improve change replace remove destroy
damage protect hide find lose keep sell buy steal pick gather arrange organize sort
decorate plant water grow trim wrap stack bury cover uncover lock unlock push tow
recycle rent print scan copy save delete download upload install update charge
"""

VERBS_PERSON = """
call meet visit help thank invite follow join miss need like love hate trust warn
remind teach tell ask answer greet hug kiss chase catch ignore admire respect blame
praise punish forgive encourage support surprise annoy bother amuse entertain impress
interview hire fire pay phone text email thank rescue protect guide drive lead train
recognize welcome introduce marry understand believe notice watch"""

VERBS_INTRANSITIVE = """
arrive laugh smile cry shout whisper wait walk run jump dance sing swim sleep rest travel
complain agree argue relax listen work play talk hurry worry pray cheer breathe cough
sneeze yawn shiver sweat blink nod wave kneel climb dive float sink fly fall rise shine
glow sparkle burn melt freeze vanish appear disappear succeed fail improve recover
continue begin stop pause hesitate retire graduate celebrate panic struggle wander
stroll jog skate ski surf sail camp hike fish hunt paint draw cook read write study
"""

VERBS_SAY = "say think know believe hope feel hear notice decide realize suspect explain admit"

# Verbs that double their final consonant: stop -> stopped, stopping.
VERBS_DOUBLE = """
stop drop plan shop chop hug jog grab rob rub skip slip trip clap wrap tap nod beg admit
commit regret prefer refer occur control patrol permit submit ship step stir plug scrub
scan spot knit chat pat pin zip fit trim dim swap sob hum rip
"""

# base past participle
IRREGULAR_VERBS = """
have had had|do did done|go went gone|say said said|make made made|take took taken|
come came come|see saw seen|know knew known|get got gotten|give gave given|
find found found|think thought thought|tell told told|become became become|
leave left left|feel felt felt|bring brought brought|begin began begun|keep kept kept|
hold held held|write wrote written|stand stood stood|hear heard heard|let let let|
mean meant meant|set set set|meet met met|run ran run|pay paid paid|sit sat sat|
speak spoke spoken|lead led led|read read read|grow grew grown|lose lost lost|
fall fell fallen|send sent sent|build built built|understand understood understood|
draw drew drawn|break broke broken|spend spent spent|cut cut cut|rise rose risen|
drive drove driven|buy bought bought|wear wore worn|choose chose chosen|
throw threw thrown|catch caught caught|win won won|forget forgot forgotten|
sell sold sold|fight fought fought|teach taught taught|eat ate eaten|sing sang sung|
drink drank drunk|swim swam swum|fly flew flown|hide hid hidden|ride rode ridden|
shake shook shaken|steal stole stolen|sleep slept slept|feed fed fed|hang hung hung|
shoot shot shot|shut shut shut|hurt hurt hurt|put put put|bite bit bitten|
blow blew blown|dig dug dug|freeze froze frozen|forgive forgave forgiven|hit hit hit|
kneel knelt knelt|light lit lit|ring rang rung|shine shone shone|sink sank sunk|
slide slid slid|spin spun spun|split split split|spread spread spread|
stick stuck stuck|sting stung stung|strike struck struck|swear swore sworn|
sweep swept swept|swing swung swung|tear tore torn|wake woke woken|weep wept wept|
bend bent bent|bet bet bet|bleed bled bled|burst burst burst|cling clung clung|
creep crept crept|grind ground ground|lend lent lent|quit quit quit|shrink shrank shrunk|
show showed shown|lay laid laid|seek sought sought|deal dealt dealt|bear bore borne|
weave wove woven|fling flung flung|cast cast cast|undo undid undone
"""

# singular plural
IRREGULAR_PLURALS = """
man men|woman women|child children|person people|foot feet|tooth teeth|mouse mice|
goose geese|ox oxen|sheep sheep|fish fish|deer deer|moose moose|bison bison|
salmon salmon|trout trout|shrimp shrimp|aircraft aircraft|knife knives|leaf leaves|
life lives|wife wives|shelf shelves|wolf wolves|half halves|loaf loaves|thief thieves|
calf calves|potato potatoes|tomato tomatoes|hero heroes|echo echoes|volcano volcanoes|
mosquito mosquitoes|buffalo buffaloes|cactus cacti|fungus fungi|crisis crises|
analysis analyses|thesis theses|tuna tuna
"""

FIRST_NAMES = """
james mary john patricia robert jennifer michael linda william elizabeth david barbara
richard susan joseph jessica thomas sarah charles karen daniel nancy matthew lisa anthony
betty mark margaret donald sandra steven ashley paul kimberly andrew emily joshua donna
kenneth michelle kevin carol brian amanda george melissa timothy deborah ronald stephanie
edward rebecca jason sharon jeffrey laura ryan cynthia jacob kathleen gary amy nicholas
angela eric shirley jonathan anna stephen brenda larry pamela justin emma scott nicole
brandon helen benjamin samantha samuel katherine gregory christine alexander debra frank
rachel patrick carolyn raymond janet jack catherine dennis maria jerry heather tyler diane
aaron ruth jose julie adam olivia nathan joyce henry virginia douglas victoria zachary
kelly peter lauren kyle christina ethan joan walter evelyn noah judith jeremy megan
christian andrea keith cheryl roger hannah terry jacqueline gerald martha harold gloria
sean teresa austin ann carl sara arthur madison lawrence frances dylan kathryn jesse janice
jordan jean bryan abigail billy alice joe julia bruce judy gabriel sophia logan grace
albert denise willie amber alan doris juan marilyn wayne danielle elijah beverly randy
isabella roy theresa vincent diana ralph natalie eugene brittany russell charlotte bobby
marie mason kayla philip alexis louis lori priya ravi arjun meera aisha omar fatima hassan
yusuf leila mohammed zara wei mei chen li hiroshi yuki kenji sakura min jun sofia mateo
lucia diego carmen pablo elena luis rosa ingrid lars astrid sven olga ivan natasha dmitri
kwame amara chidi ngozi tariq nadia sanjay anita rahul deepa hamid soraya felix greta
hugo chloe oscar ruby leo stella max ivy theo iris finn hazel jasper luna milo nora
"""

SURNAMES = """
smith johnson williams brown jones garcia miller davis rodriguez martinez hernandez lopez
gonzalez wilson anderson thomas taylor moore jackson martin lee perez thompson white
harris sanchez clark ramirez lewis robinson walker young allen king wright scott torres
nguyen hill flores green adams nelson baker hall rivera campbell mitchell carter roberts
gomez phillips evans turner diaz parker cruz edwards collins reyes stewart morris morales
murphy cook rogers gutierrez ortiz morgan cooper peterson bailey reed kelly howard ramos
kim cox ward richardson watson brooks chavez wood james bennett gray mendoza ruiz hughes
price alvarez castillo sanders patel myers long ross foster jimenez powell jenkins perry
russell sullivan bell coleman butler henderson barnes fisher vasquez simmons graham
murray ford castro marshall owens harrison fernandez mcdonald woods washington kennedy
wells vargas henry chen freeman webb tucker guzman burns crawford olson simpson porter
hunter gordon mendez silva shaw snyder mason dixon munoz hunt hicks holmes palmer wagner
black robertson boyd rose stone salazar fox warren mills meyer rice schmidt garza daniels
ferguson nichols stephens soto weaver ryan gardner payne grant dunn kelley spencer hawkins
"""

CITIES = """
london paris berlin madrid rome vienna prague warsaw budapest athens lisbon dublin
amsterdam brussels copenhagen stockholm oslo helsinki moscow istanbul cairo nairobi lagos
accra johannesburg casablanca dubai mumbai delhi bangalore karachi dhaka bangkok hanoi
singapore jakarta manila seoul tokyo osaka beijing shanghai sydney melbourne auckland
toronto montreal vancouver chicago boston seattle denver houston dallas atlanta miami
phoenix portland detroit philadelphia nashville memphis austin orlando baltimore
pittsburgh cleveland minneapolis milwaukee sacramento honolulu anchorage mexico lima
bogota santiago caracas quito havana edinburgh glasgow manchester liverpool bristol leeds
cardiff belfast oxford cambridge barcelona seville valencia milan naples venice florence
munich hamburg frankfurt cologne zurich geneva lyon marseille nice porto krakow
"""

COUNTRIES = """
england france germany spain italy portugal ireland scotland wales norway sweden finland
denmark poland austria switzerland greece turkey egypt kenya nigeria ghana morocco india
pakistan china japan korea vietnam thailand indonesia australia canada mexico brazil
argentina chile peru colombia cuba jamaica iceland russia ukraine hungary romania
belgium netherlands israel jordan lebanon iran iraq ethiopia tanzania uganda zambia
"""

STREET_TYPES = "street avenue road lane drive boulevard court place way terrace"

MONTHS = "january february march april may june july august september october november december"

DAYS = "monday tuesday wednesday thursday friday saturday sunday"

ROOMS = """
kitchen|living room|bedroom|bathroom|hallway|dining room|office|garage|basement|attic|
nursery|guest room|porch|garden|laundry room|study
"""

DEVICES = """
lights|lamp|fan|heater|air conditioner|television|radio|speaker|oven|coffee machine|
dishwasher|washing machine|dryer|projector|humidifier|kettle|porch light|ceiling fan|
desk lamp|night light
"""

GENRES = """
jazz rock classical blues reggae country folk pop soul metal opera techno disco salsa
gospel funk punk bluegrass swing lullabies
"""

ERRANDS = """
call the dentist|buy more milk|water the plants|feed the cat|pick up the kids|
take out the trash|pay the electric bill|book a table|send the report|charge my phone|
check the mail|renew my passport|lock the back door|pack my lunch|walk the dog|
return the library books|stretch my legs|take my medicine|bring an umbrella|
defrost the chicken|call my sister|email the landlord|order new printer ink|
move the car|clean the fish tank|practice the piano|submit the form
"""


def is_group(name: str) -> bool:
    """Whether `name` names a word group of this module."""
    return name.isupper() and isinstance(globals().get(name), str)


@cache
def words(name: str) -> tuple[str, ...]:
    """A word group by its module-level name, split on whitespace (or on `|` for phrases)."""
    text = globals()[name]
    sep = "|" if "|" in text else None
    items = (w.strip() for w in text.split(sep))
    return tuple(dict.fromkeys(w for w in items if w))


@cache
def irregular_verbs() -> dict[str, tuple[str, str]]:
    """base -> (past, past participle)."""
    table = {}
    for entry in words("IRREGULAR_VERBS"):
        base, past, participle = entry.split()
        table[base] = (past, participle)
    return table


@cache
def irregular_plurals() -> dict[str, str]:
    """singular -> plural."""
    table = {}
    for entry in words("IRREGULAR_PLURALS"):
        singular, plural = entry.split()
        table[singular] = plural
    return table
